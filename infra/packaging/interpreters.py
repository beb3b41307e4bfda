"""Finding a CPython of the target version and compiling the bundle's bytecode with it."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from infra.packaging.model import TASK_ROOT, BundleError, Interpreter

log = logging.getLogger("infra.packaging")


def find_interpreter(python_version: str, explicit: str | None = None) -> Interpreter | None:
    """A CPython ``python_version`` to compile bytecode with, or None (with a loud warning).

    ``explicit`` (or ``$ORCHESTRA_BUNDLE_PYTHON``) must be one; otherwise the first that is
    of: ``pythonX.Y`` on PATH, pyenv's ``X.Y``, ``$PYENV_ROOT/versions/X.Y*``, this one.
    """
    wanted = explicit or os.environ.get("ORCHESTRA_BUNDLE_PYTHON")
    if wanted:
        found = _probe(wanted, python_version)
        if found is None:
            origin = "compile_with" if explicit else "ORCHESTRA_BUNDLE_PYTHON"
            raise BundleError(f"{origin}={wanted!r} is not a runnable CPython {python_version}")
        return found
    for candidate in _candidates(python_version):
        found = _probe(candidate, python_version)
        if found is not None:
            return found
    log.warning(
        "NO Python %s interpreter found (PATH, pyenv, $ORCHESTRA_BUNDLE_PYTHON): the Lambda "
        "bundle ships WITHOUT bytecode, so every cold start compiles every module it imports. "
        "Install Python %s or point ORCHESTRA_BUNDLE_PYTHON at one.",
        python_version,
        python_version,
    )
    return None


def compile_bytecode(site: Path, interpreter: Interpreter) -> list[str]:
    """Bytecode next to every module, by the target interpreter (``cpython-3XY`` tags).

    ``unchecked-hash``: Python neither stats the source nor recompiles (the zip does not keep
    mtimes, and ``/var/task`` is read-only, so a mismatch would mean compiling in memory at
    every cold start); ``-d /var/task`` puts the runtime's paths, not this machine's, in them.
    """
    command = [
        interpreter.path,
        "-s",
        "-m",
        "compileall",
        "-q",
        "-j",
        "0",
        "--invalidation-mode",
        "unchecked-hash",
        "-d",
        TASK_ROOT,
        str(site),
    ]
    # set iteration order in marshalled constants follows str hashes: fix the seed
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONHASHSEED"] = "0"
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    if result.returncode == 0:
        return []
    output = (result.stdout + result.stderr).strip()
    log.warning("compileall reported errors (those modules ship without bytecode):\n%s", output)
    return [f"compileall: {line}" for line in output.splitlines() if line.startswith("***")]


def _candidates(python_version: str) -> Iterator[str]:
    executable = f"python{python_version}"
    on_path = shutil.which(executable)
    if on_path:
        yield on_path  # may be a pyenv shim that refuses: _probe runs it
    pyenv = shutil.which("pyenv")
    if pyenv:
        result = subprocess.run(  # noqa: S603
            [pyenv, "prefix", python_version], capture_output=True, text=True, check=False
        )
        for prefix in result.stdout.split(os.pathsep):
            if result.returncode == 0 and prefix.strip():
                yield str(Path(prefix.strip()) / "bin" / executable)
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    versions = pyenv_root / "versions"
    if versions.is_dir():

        def release(path: Path) -> list[int]:
            return [int(n) for n in re.findall(r"\d+", path.name)]

        for version_dir in sorted(versions.glob(f"{python_version}*"), key=release, reverse=True):
            yield str(version_dir / "bin" / executable)
    yield sys.executable


def _probe(command: str, python_version: str) -> Interpreter | None:
    """The interpreter ``command`` if it runs and is CPython ``python_version``."""
    path = shutil.which(command) or command
    probe = "import sys; print(sys.implementation.name, '%d.%d' % sys.version_info[:2])"
    try:
        result = subprocess.run(  # noqa: S603
            [path, "-c", probe], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0 or result.stdout.split() != ["cpython", python_version]:
        return None
    return Interpreter(path=path, version=python_version)
