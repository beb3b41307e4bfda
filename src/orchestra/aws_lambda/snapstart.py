"""Lambda SnapStart: what runs before the snapshot, and what is renewed after each restore.

The rule: **no network client and no credential is created before the snapshot.** Every
execution environment restored from one snapshot would otherwise share its connections,
its temporary credentials and its random state. So the snapshot holds imported modules and
pure, warmed code only (:meth:`LambdaApp.prewarm`); clients, secrets and boto3 sessions are
built on the first invocation after a restore, and ``after_restore`` throws away anything
that was built regardless and re-seeds ``random``.

Who runs the hooks: under the managed runtime's own client, ``snapshot_restore_py`` (it
exists only in the Lambda Python runtime, 3.12+); under Orchestra's streaming runtime
(:mod:`orchestra.aws_lambda.runtime_api`), which replaces that client, :func:`own_hooks`, which the
streaming runtime calls around its ``restore/next``. Elsewhere :func:`install` does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger("orchestra")

SNAPSTART = "snap-start"


class Restorable(Protocol):
    def prewarm(self) -> None: ...

    def before_snapshot(self) -> None: ...

    def after_restore(self) -> None: ...


class Hooks:
    """Before-snapshot hooks run last-registered first, after-restore hooks in order."""

    def __init__(self) -> None:
        self.before: list[Callable[[], None]] = []
        self.after: list[Callable[[], None]] = []

    def before_snapshot(self) -> None:
        for hook in reversed(self.before):
            hook()

    def after_restore(self) -> None:
        for hook in self.after:
            hook()


_own: Hooks | None = None


def own_hooks() -> Hooks:
    """The registry of a runtime that runs the hooks itself (created on the first call)."""
    global _own
    if _own is None:
        _own = Hooks()
    return _own


def install(runtime: Restorable, initialization_type: str | None) -> bool:
    """Prewarm and register the hooks when this init is a SnapStart one (else nothing)."""
    if initialization_type != SNAPSTART:
        return False
    if _own is not None:
        runtime.prewarm()
        _own.before.append(runtime.before_snapshot)
        _own.after.append(runtime.after_restore)
        return True
    try:
        from snapshot_restore_py import (  # type: ignore[import-not-found]
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        log.warning("SnapStart init without snapshot_restore_py: hooks not registered")
        return False
    runtime.prewarm()
    register_before_snapshot(runtime.before_snapshot)
    register_after_restore(runtime.after_restore)
    return True
