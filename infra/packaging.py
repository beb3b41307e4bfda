"""The Lambda code bundle, built on this machine without Docker.

One bundle serves every function: the project package (what its wheel holds), its
dependencies as manylinux wheels for the target CPU and Python, every
``functions/<name>/handler.py`` (handler string ``functions.<name>.handler.handler``) and
bytecode compiled by an interpreter of the target version. What the Lambda runtime already
provides (boto3, botocore, s3transfer and what only they need) is left out.

Standard library only, plus pip in a subprocess: ``infra.bundling`` calls
:func:`build_bundle` from CDK's local bundling hook, and ``python -m infra.packaging --out
build/lambda`` builds one by hand and prints its :class:`BundleReport`.

The output is deterministic (sorted walks, fixed modes and modification times, bytecode
that embeds ``/var/task`` paths and source hashes, not build paths and mtimes), and cached
under :func:`cache_key`: the project's sources and pyproject, the target and this module's
:data:`BUNDLE_FORMAT`. Dependencies are resolved from their ranges in pyproject.toml, so a
cached bundle keeps the versions it was first built with until a source changes.
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import tomllib
import zlib
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

log = logging.getLogger("infra.packaging")

#: bump when the bundle's layout or contents change for the same inputs (part of the key)
BUNDLE_FORMAT = 1
ARM64_PLATFORM = "manylinux2014_aarch64"
X86_64_PLATFORM = "manylinux2014_x86_64"
DEFAULT_EXTRAS: tuple[str, ...] = ("aws-xray-sdk>=2.14",)
#: in every Lambda Python runtime already (with urllib3, python-dateutil, six, jmespath)
LAMBDA_PROVIDED = ("boto3", "botocore", "s3transfer")
#: where Lambda unpacks the bundle: the path compiled bytecode names in tracebacks
TASK_ROOT = "/var/task"
#: every file and directory of the bundle gets this mtime (2000-01-01T00:00:00Z)
FIXED_MTIME = 946_684_800
#: Lambda quotas: code and layers unzipped; a zip uploaded directly (CDK goes through S3)
UNZIPPED_LIMIT = 250 * 1024 * 1024
ZIPPED_LIMIT = 50 * 1024 * 1024
#: glibc minor of the Lambda image per Python: Amazon Linux 2023 (2.34), before it AL2 (2.26)
LAMBDA_GLIBC_MINOR = {"3.12": 34, "3.13": 34, "3.14": 34}
AL2_GLIBC_MINOR = 26

#: never part of the bundle (nor of the cache key): caches, build leftovers, VCS files
IGNORED_DIRS = frozenset(
    {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".git", ".hypothesis"}
)
IGNORED_SUFFIXES = (".pyc", ".pyo", ".egg-info", ".DS_Store", ".swp", "~")
#: dropped from installed dependencies: no Lambda import reads them
PRUNED_DIRS = frozenset({"__pycache__", "tests"})
PRUNED_SUFFIXES = (".pyc", ".pyo", ".pyi", ".pyx", ".pxd", ".c", ".h", ".cpp")
#: pip's bookkeeping: stale once pruned (RECORD), or naming the build machine (direct_url)
PRUNED_METADATA = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
#: a cache entry is ``<key>/bundle/`` plus ``<key>/report.json``, written last
_REPORT = "report.json"
_KEEP_CACHE_ENTRIES = 3


class BundleError(RuntimeError):
    """The bundle cannot be built (pip failed, a name clashes, a source is missing)."""


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str  # "3.12"


@dataclass(frozen=True)
class BundleReport:
    """What was built: sizes against the Lambda quotas, contents, how it was built."""

    python_version: str
    platform: str
    files: int
    unzipped_bytes: int
    zipped_bytes: int
    #: (top-level package or module, unzipped bytes incl. its bytecode), largest first
    largest: tuple[tuple[str, int], ...]
    bytecode: bool
    interpreter: str | None
    functions: tuple[str, ...]
    #: (distribution, version) shipped, sorted
    distributions: tuple[tuple[str, str], ...]
    #: distributions installed by pip and removed (the runtime provides them)
    pruned: tuple[str, ...]
    #: False when built offline without a wheelhouse: project and handlers only
    dependencies: bool
    #: sha256 over the bundle's paths, modes and contents
    digest: str
    key: str
    #: debug info stripped from shared libraries (bytes saved, the tool), if any
    stripped_bytes: int = 0
    strip_tool: str | None = None
    cache_hit: bool = False
    seconds: float = 0.0
    warnings: tuple[str, ...] = field(default=())

    @property
    def within_limits(self) -> bool:
        return self.unzipped_bytes <= UNZIPPED_LIMIT and self.zipped_bytes <= ZIPPED_LIMIT

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BundleReport:
        data = dict(data)
        for name in ("largest", "distributions"):
            data[name] = tuple(tuple(item) for item in data[name])
        for name in ("functions", "pruned", "warnings"):
            data[name] = tuple(data[name])
        return cls(**data)

    def as_text(self) -> str:
        def check(size: int, limit: int) -> str:
            verdict = "ok" if size <= limit else "OVER THE LIMIT"
            return f"{_mb(size):7.2f} MB  ({size / limit:4.0%} of {_mb(limit):.0f} MB: {verdict})"

        how = "cache hit" if self.cache_hit else "built"
        code = (
            f"compiled by {self.interpreter} (unchecked-hash .pyc)"
            if self.bytecode
            else "NONE (no Python " + self.python_version + " interpreter found)"
        )
        lines = [
            f"Lambda bundle: Python {self.python_version}, {self.platform} "
            f"({how} in {self.seconds:.1f} s)",
            f"  unzipped   {check(self.unzipped_bytes, UNZIPPED_LIMIT)}",
            f"  zipped     {check(self.zipped_bytes, ZIPPED_LIMIT)}  (deflate 9; CDK uploads via S3)",
            f"  files      {self.files}",
            f"  bytecode   {code}",
            "  .so debug  "
            + (
                f"stripped by {self.strip_tool} (-{_mb(self.stripped_bytes):.2f} MB)"
                if self.strip_tool
                else "kept (no strip tool for this CPU here)"
            ),
            f"  functions  {', '.join(self.functions)}",
            f"  packages   {len(self.distributions)} distributions"
            + ("" if self.dependencies else " (OFFLINE: dependencies NOT installed)"),
            f"  pruned     {', '.join(self.pruned) or '-'} (provided by the Lambda runtime)",
            f"  digest     {self.digest[:16]}  key {self.key[:16]}",
            "  largest top-level packages (unzipped):",
            *(f"    {name:<28} {_mb(size):7.2f} MB" for name, size in self.largest),
        ]
        lines += [f"  WARNING: {warning}" for warning in self.warnings]
        return "\n".join(lines)


def _mb(size: int) -> float:
    return size / (1024 * 1024)


# -- the public entry points -------------------------------------------------------------------


def cache_key(
    project_root: Path,
    *,
    python_version: str = "3.12",
    platform: str = ARM64_PLATFORM,
    extra_requirements: Sequence[str] = DEFAULT_EXTRAS,
    offline: bool = False,
    find_links: Sequence[Path] = (),
    strip_debug: bool = True,
) -> str:
    """sha256 of everything the bundle is built from (also CDK's asset hash)."""
    project = _Project.load(project_root)
    digest = hashlib.sha256()

    def put(*parts: str | bytes) -> None:
        for part in parts:
            data = part.encode() if isinstance(part, str) else part
            digest.update(len(data).to_bytes(8, "big") + data)

    put(f"format={BUNDLE_FORMAT}", f"python={python_version}", f"platform={platform}")
    put("extras=" + "\n".join(sorted(extra_requirements)), f"offline={offline}")
    put(f"strip-debug={strip_debug}")
    for wheelhouse in find_links:
        put("find-links", *sorted(p.name for p in Path(wheelhouse).glob("*")))
    put("pyproject.toml", (project_root / "pyproject.toml").read_bytes())
    trees = {project_root / "src", project_root / "functions", *project.package_dirs}
    for tree in sorted(trees):
        if not tree.exists():
            continue
        put("tree", tree.relative_to(project_root).as_posix())
        for path in _walk_sources(tree):
            put(path.relative_to(project_root).as_posix(), path.read_bytes())
    return digest.hexdigest()


def build_bundle(
    project_root: Path,
    output_dir: Path,
    *,
    python_version: str = "3.12",
    platform: str = ARM64_PLATFORM,
    extra_requirements: Sequence[str] = DEFAULT_EXTRAS,
    compile_with: str | None = None,
    cache_dir: Path | None = None,
    offline: bool = False,
    find_links: Sequence[Path] = (),
    strip_debug: bool = True,
) -> BundleReport:
    """Build the Lambda bundle into ``output_dir`` (absent or empty) and report on it.

    ``offline`` passes ``--no-index`` to pip: dependencies come from the ``find_links``
    wheelhouses only, and without any the bundle holds the project and handlers alone
    (``report.dependencies`` is False). ``compile_with`` names the interpreter that compiles
    the bytecode; by default one of ``python_version`` is looked for
    (:func:`find_interpreter`), and without one the bundle ships without bytecode.
    ``strip_debug`` removes debug sections from shared libraries when a strip tool that
    reads the target CPU's ELF is here (``llvm-strip``, ``<cpu>-linux-gnu-strip``).
    """
    started = time.perf_counter()
    if not re.fullmatch(r"3\.\d+", python_version):
        raise BundleError(f"python_version must look like 3.12, not {python_version!r}")
    project_root, output_dir = project_root.resolve(), output_dir.resolve()
    if output_dir.exists() and any(output_dir.iterdir()):
        raise BundleError(f"output directory {output_dir} is not empty")
    interpreter = find_interpreter(python_version, compile_with)
    key = cache_key(
        project_root,
        python_version=python_version,
        platform=platform,
        extra_requirements=extra_requirements,
        offline=offline,
        find_links=find_links,
        strip_debug=strip_debug,
    )
    cached = _cache_lookup(cache_dir, key) if cache_dir else None
    if cached is not None and not cached[1].bytecode and interpreter is not None:
        log.info(
            "cached bundle %s has no bytecode, %s can compile it: rebuilding",
            key[:12],
            interpreter.path,
        )
        cached = None
    if cached is not None:
        tree, report = cached
        _copy_tree(tree, output_dir)
        log.info("Lambda bundle %s from the cache (%s)", key[:12], tree)
        return replace(report, cache_hit=True, seconds=time.perf_counter() - started)

    if cache_dir:
        cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=cache_dir) as scratch:
        stage = Path(scratch) / "bundle"
        report = _build(
            project_root,
            stage,
            python_version=python_version,
            platform=platform,
            extra_requirements=extra_requirements,
            interpreter=interpreter,
            offline=offline,
            find_links=find_links,
            strip_debug=strip_debug,
            key=key,
        )
        stored = _cache_store(cache_dir, key, stage, report) if cache_dir else None
        if stored is not None:
            _copy_tree(stored, output_dir)
        else:
            _move_tree(stage, output_dir)
    return replace(report, seconds=time.perf_counter() - started)


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


def tree_digest(root: Path) -> str:
    """sha256 over every path (sorted), its mode and its contents."""
    digest = hashlib.sha256()
    for path in _walk(root):
        rel = path.relative_to(root).as_posix()
        mode = path.lstat().st_mode
        digest.update(f"{rel}\0{stat.S_IMODE(mode):o}\0".encode())
        if path.is_file():
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def prune(site: Path, roots: Iterable[str]) -> list[str]:
    """Drop what Lambda provides or never reads from the pip target ``site``.

    Removes the :data:`LAMBDA_PROVIDED` distributions and those installed only for them
    (their ``Requires-Dist`` closure minus what ``roots``, the requirements asked for, need),
    then caches, tests, stubs and C sources, console scripts, and pip's bookkeeping files.
    ``*.dist-info`` stays (METADATA, entry points, licenses: importlib.metadata reads them).
    Returns the removed distributions' names.
    """
    dists = _Dist.scan(site)
    provided = {_normalize(name) for name in LAMBDA_PROVIDED}
    keep = _closure(dists, [_parse_requirement(r) for r in roots], blocked=provided)
    for_runtime = _closure(dists, [(name, frozenset()) for name in provided], blocked=set())
    removed = sorted(name for name in for_runtime - keep if name in dists)
    for name in removed:
        dists[name].remove(site)
    for name in LAMBDA_PROVIDED:  # also without metadata (a vendored copy, a bare tree)
        _remove(site / name)
        _remove(site / f"{name}.py")
    _remove(site / "bin")
    for path in reversed(list(_walk(site))):
        if path.is_dir() and path.name in PRUNED_DIRS:
            _remove(path)
        elif path.is_file() and (
            path.name.endswith(PRUNED_SUFFIXES)
            or (path.parent.name.endswith(".dist-info") and path.name in PRUNED_METADATA)
        ):
            path.unlink()
    _remove_empty_dirs(site)
    return removed


# -- the build ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Project:
    root: Path
    name: str
    version: str
    dependencies: tuple[str, ...]
    requires_python: str | None
    #: directories the wheel holds, shipped under their own names (src/orchestra -> orchestra)
    package_dirs: tuple[Path, ...]

    @classmethod
    def load(cls, root: Path) -> _Project:
        pyproject = tomllib.loads((root / "pyproject.toml").read_text())
        project = pyproject["project"]
        if "version" not in project:
            raise BundleError("pyproject.toml: a dynamic [project] version is not supported")
        wheel = pyproject.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {})
        wheel = wheel.get("wheel", {})
        unsupported = sorted(set(wheel) & {"only-include", "sources", "force-include", "include"})
        if unsupported:
            raise BundleError(f"hatch wheel options {unsupported} are not supported here")
        name = str(project["name"])
        module = re.sub(r"[-.]+", "_", name).lower()
        default = "src/" + module if (root / "src" / module).is_dir() else module
        packages = [root / p for p in wheel.get("packages", [default])]
        for package in packages:
            if not (package / "__init__.py").is_file():
                raise BundleError(f"project package {package} not found")
        return cls(
            root=root,
            name=name,
            version=str(project["version"]),
            dependencies=tuple(project.get("dependencies", ())),
            requires_python=project.get("requires-python"),
            package_dirs=tuple(packages),
        )

    def install(self, site: Path) -> None:
        """Copy the packages as the wheel ships them, with the metadata importlib reads."""
        for package in self.package_dirs:
            _copy_sources(package, site / package.name)
        info = site / f"{re.sub(r'[-_.]+', '_', self.name)}-{self.version}.dist-info"
        info.mkdir()
        lines = ["Metadata-Version: 2.1", f"Name: {self.name}", f"Version: {self.version}"]
        if self.requires_python:
            lines.append(f"Requires-Python: {self.requires_python}")
        lines += [f"Requires-Dist: {dependency}" for dependency in self.dependencies]
        (info / "METADATA").write_text("\n".join(lines) + "\n")
        (info / "top_level.txt").write_text("".join(p.name + "\n" for p in self.package_dirs))


def _build(
    project_root: Path,
    stage: Path,
    *,
    python_version: str,
    platform: str,
    extra_requirements: Sequence[str],
    interpreter: Interpreter | None,
    offline: bool,
    find_links: Sequence[Path],
    strip_debug: bool,
    key: str,
) -> BundleReport:
    project = _Project.load(project_root)
    stage.mkdir(parents=True)
    requirements = [*project.dependencies, *extra_requirements]
    warnings: list[str] = []
    pruned: list[str] = []
    dependencies = not offline or bool(find_links)
    if dependencies:
        _pip_install(
            stage,
            requirements,
            python_version=python_version,
            platform=platform,
            offline=offline,
            find_links=find_links,
        )
        pruned = prune(stage, requirements)
    else:
        warnings.append("offline without a wheelhouse: dependencies not installed")
        log.warning("offline build without find_links: the bundle holds no dependencies")
    for name in ("functions", *(p.name for p in project.package_dirs)):
        if (stage / name).exists():
            raise BundleError(f"a dependency installs a top-level {name!r}: it would be shadowed")
    project.install(stage)
    functions = _copy_functions(project_root / "functions", stage / "functions")
    strip_tool, stripped = _strip_debug(stage, platform) if strip_debug else (None, 0)
    _normalize_modes(stage)
    if interpreter is not None:
        warnings += _compile(stage, interpreter)
    else:
        warnings.append(f"no bytecode: no Python {python_version} interpreter found")
    _normalize_mtimes(stage)
    files, unzipped, largest = _measure(stage)
    return BundleReport(
        python_version=python_version,
        platform=platform,
        files=files,
        unzipped_bytes=unzipped,
        zipped_bytes=_zipped_size(stage),
        largest=largest,
        bytecode=interpreter is not None,
        interpreter=f"{interpreter.path} ({interpreter.version})" if interpreter else None,
        functions=functions,
        distributions=tuple(sorted((d.name, d.version) for d in _Dist.scan(stage).values())),
        pruned=tuple(pruned),
        dependencies=dependencies,
        digest=tree_digest(stage),
        key=key,
        stripped_bytes=stripped,
        strip_tool=strip_tool,
        warnings=tuple(warnings),
    )


def _pip_install(
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


def _copy_functions(source: Path, target: Path) -> tuple[str, ...]:
    """``functions/`` as it is, each folder with a handler.py made a package."""
    names = sorted(p.parent.name for p in source.glob("*/handler.py"))
    if not names:
        raise BundleError(f"no functions/<name>/handler.py under {source}")
    for name in names:
        if not name.isidentifier():
            raise BundleError(f"functions/{name}: not a Python identifier (handler strings)")
    _copy_sources(source, target)
    for package in (target, *(target / name for name in names)):
        init = package / "__init__.py"
        if not init.exists():
            init.write_text("")
    return tuple(names)


def _compile(site: Path, interpreter: Interpreter) -> list[str]:
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


def _measure(site: Path) -> tuple[int, int, tuple[tuple[str, int], ...]]:
    sizes: dict[str, int] = {}
    files = total = 0
    for path in _walk(site):
        if not path.is_file():
            continue
        size = path.stat().st_size
        files, total = files + 1, total + size
        sizes[_top_level_name(path.relative_to(site))] = (
            sizes.get(_top_level_name(path.relative_to(site)), 0) + size
        )
    largest = sorted(sizes.items(), key=lambda item: (-item[1], item[0]))[:10]
    return files, total, tuple(largest)


def _top_level_name(rel: Path) -> str:
    head = rel.parts[0]
    if head.endswith(".dist-info"):
        return "*.dist-info"
    if head == "__pycache__" and len(rel.parts) > 1:  # bytecode of a top-level module
        return rel.parts[1].split(".", 1)[0]
    if len(rel.parts) == 1:
        return rel.name.split(".", 1)[0]  # six.py, _cffi_backend.cpython-312-....so
    return head


def _zipped_size(site: Path) -> int:
    """Exact size of the bundle zipped as CDK zips an asset (roughly: files only, sorted,
    deflate level 9, no extra fields), without writing it: each file is deflated as
    ``zipfile`` does it (raw deflate), in threads (zlib releases the GIL).
    """
    files = [path for path in _walk(site) if path.is_file()]

    def deflated(path: Path) -> int:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        return len(compressor.compress(path.read_bytes())) + len(compressor.flush())

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        sizes = list(pool.map(deflated, files))
    headers = sum(
        _ZIP_LOCAL_HEADER + _ZIP_CENTRAL_HEADER + 2 * len(p.relative_to(site).as_posix().encode())
        for p in files
    )
    return sum(sizes) + headers + _ZIP_END_RECORD


#: zip record sizes (APPNOTE 4.3.7, 4.3.12, 4.3.16) without names or extra fields
_ZIP_LOCAL_HEADER, _ZIP_CENTRAL_HEADER, _ZIP_END_RECORD = 30, 46, 22


def _strip_debug(site: Path, platform: str) -> tuple[str | None, int]:
    """Debug sections out of every ELF shared library, if a tool for the target CPU is here.

    Wheels often ship them (PyYAML, aiohttp, multidict: megabytes each); nothing at run time
    reads them. ``--strip-debug`` keeps the symbol tables.
    """
    libraries = [
        path
        for path in _walk(site)
        if path.is_file()
        and (path.name.endswith(".so") or ".so." in path.name)
        and path.read_bytes()[:4] == b"\x7fELF"
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


def _strip_tool(platform: str) -> str | None:
    match = re.search(r"(aarch64|x86_64|armv7l|ppc64le|s390x|i686)$", platform)
    if match is None:
        return None
    arch = match.group(1)
    candidates = ["llvm-strip", f"{arch}-linux-gnu-strip"]
    if os.uname().machine == arch:
        candidates.append("strip")
    return next((found for name in candidates if (found := shutil.which(name))), None)


# -- distributions and their requirements ------------------------------------------------------


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
class _Dist:
    name: str  # as in METADATA
    version: str
    info: Path  # the .dist-info directory
    #: (requirement name, its extras, the extras of this dist that activate it; empty: always)
    requires: list[tuple[str, frozenset[str], frozenset[str]]]

    @classmethod
    def scan(cls, site: Path) -> dict[str, _Dist]:
        dists: dict[str, _Dist] = {}
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
                _remove(site / name)
                _remove(site / f"{name}.py")
        _remove(self.info)


def _closure(
    dists: dict[str, _Dist], roots: Iterable[tuple[str, frozenset[str]]], *, blocked: set[str]
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


# -- files -------------------------------------------------------------------------------------


def _walk(root: Path) -> Iterator[Path]:
    """Every path under ``root`` (not following symlinks), sorted, parents first."""
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        yield entry
        if entry.is_dir() and not entry.is_symlink():
            yield from _walk(entry)


def _ignored(path: Path) -> bool:
    return path.name in IGNORED_DIRS or path.name.endswith(IGNORED_SUFFIXES)


def _walk_sources(root: Path) -> Iterator[Path]:
    """Files under ``root``, sorted, skipping caches and build leftovers."""
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if _ignored(entry):
            continue
        if entry.is_dir():
            yield from _walk_sources(entry)
        elif entry.is_file():
            yield entry


def _copy_sources(source: Path, target: Path) -> None:
    shutil.copytree(
        source, target, ignore=lambda _d, names: [n for n in names if _ignored(Path(n))]
    )


def _copy_tree(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target, dirs_exist_ok=True, symlinks=True)
    _normalize_mtimes(target)


def _move_tree(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for entry in sorted(source.iterdir()):
        shutil.move(entry, target / entry.name)
    _normalize_mtimes(target)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _remove_empty_dirs(root: Path) -> None:
    for path in reversed(list(_walk(root))):
        if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
            path.rmdir()


def _normalize_modes(root: Path) -> None:
    """rwxr-xr-x directories, rw-r--r-- files (rwxr-xr-x if executable): Lambda's user reads all."""
    for path in _walk(root):
        if path.is_symlink():
            continue
        if path.is_dir():
            path.chmod(0o755)
        else:
            path.chmod(0o755 if path.stat().st_mode & 0o111 else 0o644)


def _normalize_mtimes(root: Path) -> None:
    for path in reversed([root, *_walk(root)]):  # children first: a dir's mtime last
        os.utime(path, (FIXED_MTIME, FIXED_MTIME), follow_symlinks=False)


# -- the interpreter ---------------------------------------------------------------------------


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


# -- the cache ---------------------------------------------------------------------------------


def _cache_lookup(cache_dir: Path, key: str) -> tuple[Path, BundleReport] | None:
    entry = cache_dir / key
    if not (entry / _REPORT).is_file() or not (entry / "bundle").is_dir():
        return None
    try:
        return entry / "bundle", BundleReport.from_dict(json.loads((entry / _REPORT).read_text()))
    except (ValueError, TypeError, KeyError):
        log.warning("unreadable cache entry %s: rebuilding", entry)
        return None


def _cache_store(cache_dir: Path, key: str, stage: Path, report: BundleReport) -> Path | None:
    """Move the built tree into the cache (same filesystem), its report last; its path."""
    entry = cache_dir / key
    try:
        _remove(entry)  # an incomplete leftover
        entry.mkdir()
        os.replace(stage, entry / "bundle")
        scratch = entry / (_REPORT + ".tmp")
        scratch.write_text(json.dumps(report.as_dict(), indent=1, sort_keys=True))
        os.replace(scratch, entry / _REPORT)
    except OSError as exc:  # e.g. another build of the same key at the same time
        log.warning("bundle not cached in %s: %s", entry, exc)
        # not moved yet: the caller moves it out; moved: it is whole, only unmarked
        return None if stage.exists() else entry / "bundle"
    _evict(cache_dir, keep=_KEEP_CACHE_ENTRIES)
    return entry / "bundle"


def _evict(cache_dir: Path, *, keep: int) -> None:
    """Only the ``keep`` newest entries stay."""
    reports = sorted(
        cache_dir.glob(f"*/{_REPORT}"), key=lambda p: p.stat().st_mtime_ns, reverse=True
    )
    for report in reports[keep:]:
        _remove(report.parent)


# -- the command line --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(
        prog="python -m infra.packaging", description="Build the Lambda bundle (no Docker)."
    )
    parser.add_argument("--out", type=Path, default=root / "build" / "lambda")
    parser.add_argument("--root", type=Path, default=root, help="project root (pyproject.toml)")
    parser.add_argument("--python", default="3.12", help="target Python (default 3.12)")
    parser.add_argument("--platform", default=ARM64_PLATFORM, help=f"default {ARM64_PLATFORM}")
    parser.add_argument("--extra", action="append", help=f"default {list(DEFAULT_EXTRAS)}")
    parser.add_argument("--compile-with", help="interpreter for the bytecode")
    parser.add_argument("--cache", type=Path, default=root / "build" / "lambda-cache")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--offline", action="store_true", help="pip --no-index")
    parser.add_argument("--find-links", type=Path, action="append", default=[])
    parser.add_argument("--no-strip", action="store_true", help="keep .so debug sections")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s"
    )
    out: Path = args.out.resolve()
    if out.exists() and any(out.iterdir()):
        if not (out / "functions" / "__init__.py").is_file() or (out / "pyproject.toml").exists():
            parser.error(f"{out} is not empty and does not look like a bundle: not replacing it")
        shutil.rmtree(out)
    try:
        report = build_bundle(
            args.root,
            out,
            python_version=args.python,
            platform=args.platform,
            extra_requirements=DEFAULT_EXTRAS if args.extra is None else args.extra,
            compile_with=args.compile_with,
            cache_dir=None if args.no_cache else args.cache,
            offline=args.offline,
            find_links=args.find_links,
            strip_debug=not args.no_strip,
        )
    except BundleError as exc:
        log.error("%s", exc)
        return 1
    print(json.dumps(report.as_dict(), indent=1) if args.json else report.as_text())
    print(f"bundle: {out}")
    return 0 if report.within_limits else 2


if __name__ == "__main__":
    sys.exit(main())
