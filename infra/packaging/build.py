"""Building (or re-using from the cache) one bundle: the project, its wheels, the handlers."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
import tomllib
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from infra.packaging.dists import Distribution, prune
from infra.packaging.files import (
    copy_sources,
    copy_tree,
    move_tree,
    normalize_modes,
    normalize_mtimes,
    remove,
    tree_digest,
    walk,
    walk_sources,
)
from infra.packaging.interpreters import compile_bytecode, find_interpreter
from infra.packaging.model import (
    ARM64_PLATFORM,
    BUNDLE_FORMAT,
    CACHED_REPORT,
    DEFAULT_EXTRAS,
    KEEP_CACHE_ENTRIES,
    LEFT_OUT_OF_BUNDLE,
    BundleError,
    BundleReport,
    Interpreter,
)
from infra.packaging.platforms import pip_install, strip_shared_libraries

log = logging.getLogger("infra.packaging")


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
        for path in walk_sources(tree):
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
        copy_tree(tree, output_dir)
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
            copy_tree(stored, output_dir)
        else:
            move_tree(stage, output_dir)
    return replace(report, seconds=time.perf_counter() - started)


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
            copy_sources(package, site / package.name)
            for left_out in LEFT_OUT_OF_BUNDLE:
                remove(site / package.name / left_out)
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
        pip_install(
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
    strip_tool, stripped = strip_shared_libraries(stage, platform) if strip_debug else (None, 0)
    normalize_modes(stage)
    if interpreter is not None:
        warnings += compile_bytecode(stage, interpreter)
    else:
        warnings.append(f"no bytecode: no Python {python_version} interpreter found")
    normalize_mtimes(stage)
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
        distributions=tuple(sorted((d.name, d.version) for d in Distribution.scan(stage).values())),
        pruned=tuple(pruned),
        dependencies=dependencies,
        digest=tree_digest(stage),
        key=key,
        stripped_bytes=stripped,
        strip_tool=strip_tool,
        warnings=tuple(warnings),
    )


def _copy_functions(source: Path, target: Path) -> tuple[str, ...]:
    """``functions/`` as it is, each folder with a handler.py made a package."""
    names = sorted(p.parent.name for p in source.glob("*/handler.py"))
    if not names:
        raise BundleError(f"no functions/<name>/handler.py under {source}")
    for name in names:
        if not name.isidentifier():
            raise BundleError(f"functions/{name}: not a Python identifier (handler strings)")
    copy_sources(source, target)
    for package in (target, *(target / name for name in names)):
        init = package / "__init__.py"
        if not init.exists():
            init.write_text("")
    return tuple(names)


def _measure(site: Path) -> tuple[int, int, tuple[tuple[str, int], ...]]:
    sizes: dict[str, int] = {}
    files = total = 0
    for path in walk(site):
        if not path.is_file():
            continue
        size = path.stat().st_size
        files, total = files + 1, total + size
        name = _top_level_name(path.relative_to(site))
        sizes[name] = sizes.get(name, 0) + size
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
    files = [path for path in walk(site) if path.is_file()]

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


def _cache_lookup(cache_dir: Path, key: str) -> tuple[Path, BundleReport] | None:
    entry = cache_dir / key
    if not (entry / CACHED_REPORT).is_file() or not (entry / "bundle").is_dir():
        return None
    try:
        return entry / "bundle", BundleReport.from_dict(
            json.loads((entry / CACHED_REPORT).read_text())
        )
    except (ValueError, TypeError, KeyError):
        log.warning("unreadable cache entry %s: rebuilding", entry)
        return None


def _cache_store(cache_dir: Path, key: str, stage: Path, report: BundleReport) -> Path | None:
    """Move the built tree into the cache (same filesystem), its report last; its path."""
    entry = cache_dir / key
    try:
        remove(entry)  # an incomplete leftover
        entry.mkdir()
        os.replace(stage, entry / "bundle")
        scratch = entry / (CACHED_REPORT + ".tmp")
        scratch.write_text(json.dumps(report.as_dict(), indent=1, sort_keys=True))
        os.replace(scratch, entry / CACHED_REPORT)
    except OSError as exc:  # e.g. another build of the same key at the same time
        log.warning("bundle not cached in %s: %s", entry, exc)
        # not moved yet: the caller moves it out; moved: it is whole, only unmarked
        return None if stage.exists() else entry / "bundle"
    _evict(cache_dir, keep=KEEP_CACHE_ENTRIES)
    return entry / "bundle"


def _evict(cache_dir: Path, *, keep: int) -> None:
    """Only the ``keep`` newest entries stay."""
    reports = sorted(
        cache_dir.glob(f"*/{CACHED_REPORT}"), key=lambda p: p.stat().st_mtime_ns, reverse=True
    )
    for report in reports[keep:]:
        remove(report.parent)
