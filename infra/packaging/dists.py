"""Installed distributions, their requirements, and pruning what the runtime provides."""

from __future__ import annotations

import email.parser
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from infra.packaging.files import remove, remove_empty_dirs, walk
from infra.packaging.model import (
    LAMBDA_PROVIDED,
    PRUNED_DIRS,
    PRUNED_METADATA,
    PRUNED_SUFFIXES,
    BundleError,
)


def prune(site: Path, roots: Iterable[str]) -> list[str]:
    """Drop what Lambda provides or never reads from the pip target ``site``.

    Removes the :data:`LAMBDA_PROVIDED` distributions and those installed only for them
    (their ``Requires-Dist`` closure minus what ``roots``, the requirements asked for, need),
    then caches, tests, stubs and C sources, console scripts, and pip's bookkeeping files.
    ``*.dist-info`` stays (METADATA, entry points, licenses: importlib.metadata reads them).
    Returns the removed distributions' names.
    """
    dists = Distribution.scan(site)
    provided = {_normalize(name) for name in LAMBDA_PROVIDED}
    keep = _closure(dists, [_parse_requirement(r) for r in roots], blocked=provided)
    for_runtime = _closure(dists, [(name, frozenset()) for name in provided], blocked=set())
    removed = sorted(name for name in for_runtime - keep if name in dists)
    for name in removed:
        dists[name].remove(site)
    for name in LAMBDA_PROVIDED:  # also without metadata (a vendored copy, a bare tree)
        remove(site / name)
        remove(site / f"{name}.py")
    remove(site / "bin")
    for path in reversed(list(walk(site))):
        if path.is_dir() and path.name in PRUNED_DIRS:
            remove(path)
        elif path.is_file() and (
            path.name.endswith(PRUNED_SUFFIXES)
            or (path.parent.name.endswith(".dist-info") and path.name in PRUNED_METADATA)
        ):
            path.unlink()
    remove_empty_dirs(site)
    return removed


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_REQUIREMENT = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_EXTRA_MARKER = re.compile(r"""\bextra\s*==\s*['"]([^'"]+)['"]""")


def _parse_requirement(text: str) -> tuple[str, frozenset[str]]:
    match = _REQUIREMENT.match(text)
    if match is None:
        raise BundleError(f"cannot parse requirement {text!r}")
    extras = frozenset(_normalize(e) for e in (match.group(2) or "").split(",") if e.strip())
    return _normalize(match.group(1)), extras


@dataclass
class Distribution:
    name: str  # as in METADATA
    version: str
    info: Path  # the .dist-info directory
    #: (requirement name, its extras, the extras of this dist that activate it; empty: always)
    requires: list[tuple[str, frozenset[str], frozenset[str]]]

    @classmethod
    def scan(cls, site: Path) -> dict[str, Distribution]:
        dists: dict[str, Distribution] = {}
        for info in sorted(site.glob("*.dist-info")):
            metadata = info / "METADATA"
            if not metadata.is_file():
                continue
            message = email.parser.HeaderParser().parsestr(metadata.read_text(errors="replace"))
            requires = []
            for requirement in message.get_all("Requires-Dist") or []:
                spec, _, marker = str(requirement).partition(";")
                name, extras = _parse_requirement(spec)
                when = frozenset(_normalize(e) for e in _EXTRA_MARKER.findall(marker))
                requires.append((name, extras, when))
            name = str(message["Name"])
            dists[_normalize(name)] = cls(name, str(message["Version"]), info, requires)
        return dists

    def remove(self, site: Path) -> None:
        """Every file its RECORD lists (else its top-level names), then the dist-info."""
        record = self.info / "RECORD"
        if record.is_file():
            for line in record.read_text().splitlines():
                rel = line.rsplit(",", 2)[0].strip('"')
                path = (site / rel).resolve()
                if rel and path.is_relative_to(site.resolve()) and path.is_file():
                    path.unlink()
        else:
            top_level = self.info / "top_level.txt"
            names = top_level.read_text().split() if top_level.is_file() else [self.name]
            for name in names:
                remove(site / name)
                remove(site / f"{name}.py")
        remove(self.info)


def _closure(
    dists: dict[str, Distribution],
    roots: Iterable[tuple[str, frozenset[str]]],
    *,
    blocked: set[str],
) -> set[str]:
    """Names reachable from ``roots`` through active requirements, never entering ``blocked``.

    A requirement counts unless its marker names extras none of which was asked for; other
    markers (python_version, sys_platform) count as true, which can only keep more.
    """
    seen: dict[str, set[str]] = {}
    todo = list(roots)
    while todo:
        name, extras = todo.pop()
        if name in blocked:
            continue
        known = seen.setdefault(name, set())
        if known and extras <= known:
            continue
        known.update(extras)
        dist = dists.get(name)
        if dist is None:
            continue
        for requirement, its_extras, when in dist.requires:
            if not when or when & known:
                todo.append((requirement, its_extras))
    return set(seen)
