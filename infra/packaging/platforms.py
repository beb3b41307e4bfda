"""pip for the Lambda platform (manylinux tags, binary wheels only) and stripping .so files."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from platform import machine as host_machine

from infra.packaging.files import walk
from infra.packaging.model import AL2_GLIBC_MINOR, LAMBDA_GLIBC_MINOR, BundleError

log = logging.getLogger("infra.packaging")


def platform_tags(platform: str, python_version: str) -> list[str]:
    """pip ``--platform`` values for a target: every manylinux glibc the Lambda image runs.

    pip matches ``--platform`` exactly (it expands only ``manylinux2014`` to its older
    aliases), so ``manylinux2014_aarch64`` alone misses wheels built only for newer glibc
    (rapidfuzz 3.14 ships ``manylinux_2_26``/``_2_28`` aarch64 wheels and no
    ``manylinux2014`` one: pip would silently pick an older release).
    """
    match = re.fullmatch(r"manylinux(?:2014|_2_(\d+))_(\w+)", platform)
    if match is None:
        return [platform]
    explicit_minor, arch = match.groups()
    ceiling = (
        int(explicit_minor)
        if explicit_minor
        else LAMBDA_GLIBC_MINOR.get(python_version, AL2_GLIBC_MINOR)
    )
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(ceiling, 16, -1)]
    return [*tags, f"manylinux2014_{arch}"]


def pip_install(
    site: Path,
    requirements: Sequence[str],
    *,
    python_version: str,
    platform: str,
    offline: bool,
    find_links: Sequence[Path],
) -> None:
    tags = platform_tags(platform, python_version)
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--target",
        str(site),
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--only-binary=:all:",
        "--upgrade",
        "--no-compile",
        "--disable-pip-version-check",
        "--no-input",
        *(arg for tag in tags for arg in ("--platform", tag)),
        *(["--no-index"] if offline else []),
        *(arg for path in find_links for arg in ("--find-links", str(path))),
        *requirements,
    ]
    log.info(
        "pip: %d requirements for cp%s on %s..%s",
        len(requirements),
        python_version.replace(".", ""),
        tags[0],
        tags[-1],
    )
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    log.debug("pip output:\n%s%s", result.stdout, result.stderr)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise BundleError(f"pip install failed (exit {result.returncode}):\n{tail}")


def strip_shared_libraries(site: Path, platform: str) -> tuple[str | None, int]:
    """Debug sections out of every ELF shared library, if a tool for the target CPU is here.

    Wheels often ship them (PyYAML, aiohttp, multidict: megabytes each); nothing at run time
    reads them. ``--strip-debug`` keeps the symbol tables.
    """
    libraries = [
        path
        for path in walk(site)
        if path.is_file() and (path.name.endswith(".so") or ".so." in path.name) and _is_elf(path)
    ]
    if not libraries:
        return None, 0
    tool = _strip_tool(platform)
    if tool is None:
        log.info(
            "no strip tool reads %s ELF here (llvm-strip): shared libraries keep their debug info",
            platform,
        )
        return None, 0
    before = sum(path.stat().st_size for path in libraries)
    for path in libraries:
        result = subprocess.run(  # noqa: S603
            [tool, "--strip-debug", str(path)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            log.warning("%s could not strip %s: %s", tool, path.name, result.stderr.strip())
    return tool, before - sum(path.stat().st_size for path in libraries)


def _is_elf(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4) == b"\x7fELF"


def _strip_tool(platform: str) -> str | None:
    match = re.search(r"(aarch64|x86_64|armv7l|ppc64le|s390x|i686)$", platform)
    if match is None:
        return None
    arch = match.group(1)
    candidates = ["llvm-strip", f"{arch}-linux-gnu-strip"]
    if host_machine() == arch:  # the host's own strip reads only its own CPU's ELF
        candidates.append("strip")
    return next((found for name in candidates if (found := shutil.which(name))), None)
