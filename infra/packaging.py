"""The Lambda bundle, built on this machine without Docker.

One bundle serves every function: the ``orchestra`` wheel, its dependencies as wheels for
the Lambda platform (arm64, the target CPython; ``pip install --platform ...
--only-binary=:all:``, so nothing is compiled here), the handlers under ``functions/`` and
bytecode compiled by an interpreter of the target version. boto3/botocore/s3transfer are
dropped: the Lambda Python runtime provides them.

Bytecode is compiled with ``--invalidation-mode unchecked-hash``: ``/var/task`` is read-only,
so without shipped ``.pyc`` files every cold start compiles every module in memory, and
timestamp-checked ``.pyc`` files would be recompiled anyway once zipping changes mtimes.

``python -m infra.packaging --out build/lambda`` builds and prints the report.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("infra.packaging")

#: bump to invalidate every cached bundle when this module changes what it builds
VERSION = "1"
ARM64_PLATFORM = "manylinux2014_aarch64"
#: the tags pip may pick for ``ARM64_PLATFORM`` (Lambda's Amazon Linux 2023 has glibc 2.34)
PLATFORM_TAGS = {
    "manylinux2014_aarch64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
    "manylinux2014_x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
}
#: extras the functions need beyond the core dependencies (Tracer's X-Ray SDK)
EXTRA_REQUIREMENTS = ("aws-xray-sdk>=2.14",)
#: provided by the Lambda Python runtime
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
FIXED_TIME = 946684800  # 2000-01-01: identical trees give identical zips
SOURCES = ("pyproject.toml", "README.md", "src", "functions")
#: build inputs that wheels sometimes carry and nothing imports at run time
BUILD_LEFTOVERS = {".c", ".h", ".pyx", ".pxd", ".cpp"}


@dataclass
class BundleReport:
    path: Path
    python_version: str
    platform: str
    files: int = 0
    unzipped_bytes: int = 0
    zipped_bytes: int = 0
    bytecode: bool = False
    compiler: str | None = None
    largest: list[tuple[str, int]] = field(default_factory=list)
    cached: bool = False

    def as_text(self) -> str:
        mb = 1024 * 1024
        lines = [
            f"Lambda bundle {self.path} (Python {self.python_version}, {self.platform})"
            + (" [cache]" if self.cached else ""),
            f"  files {self.files}, unzipped {self.unzipped_bytes / mb:.1f} MB "
            f"(limit 250), zipped {self.zipped_bytes / mb:.1f} MB (direct upload limit 50)",
            f"  bytecode: {'yes, by ' + str(self.compiler) if self.bytecode else 'NO'}",
            "  largest: " + ", ".join(f"{n} {b / mb:.1f} MB" for n, b in self.largest),
        ]
        return "\n".join(lines)


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield path


def cache_key(
    root: Path,
    *,
    python_version: str,
    platform: str,
    extra: Sequence[str] = EXTRA_REQUIREMENTS,
) -> str:
    """Changes whenever anything that goes into the bundle does (sources, target, extras)."""
    digest = hashlib.sha256(f"{VERSION}|{python_version}|{platform}|{sorted(extra)}".encode())
    for name in SOURCES:
        top = root / name
        for path in [top] if top.is_file() else _files(top):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def build_bundle(
    root: Path,
    output_dir: Path,
    *,
    python_version: str = "3.13",
    platform: str = ARM64_PLATFORM,
    extra: Sequence[str] = EXTRA_REQUIREMENTS,
    cache_dir: Path | None = None,
    offline: bool = False,
) -> BundleReport:
    """Build (or copy from ``cache_dir``) the bundle into ``output_dir``.

    ``offline`` installs only the project itself (``--no-deps --no-index``): for tests.
    """
    key = cache_key(root, python_version=python_version, platform=platform, extra=extra)
    key += "-offline" if offline else ""
    cached = cache_dir / key if cache_dir else None
    if cached is not None and (cached / ".complete").exists():
        _copy(cached, output_dir)
        (output_dir / ".complete").unlink(missing_ok=True)
        report = _report(output_dir, python_version, platform)
        report.cached = True
        return report
    with tempfile.TemporaryDirectory(prefix="orchestra-bundle-") as tmp:
        wheel = _project_wheel(root, Path(tmp))
        _install(wheel, extra, output_dir, python_version, platform, offline=offline)
    _prune(output_dir)
    _copy_handlers(root / "functions", output_dir / "functions")
    compiler = find_interpreter(python_version)
    if compiler is None:
        log.warning("no Python %s found: bundle shipped WITHOUT bytecode", python_version)
    else:
        _compile(compiler, output_dir)
    _normalize(output_dir)
    if cached is not None:
        _save(output_dir, cached)
    return _report(output_dir, python_version, platform)


def _run(command: list[str], cwd: Path | None = None) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])}... failed:\n{done.stderr[-3000:]}")


def _project_wheel(root: Path, into: Path) -> Path:
    """The orchestra wheel (pure Python), built with the venv's hatchling when present."""
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(into)]
    try:
        import hatchling  # noqa: F401

        command.append("--no-build-isolation")
    except ImportError:
        pass
    _run([*command, str(root)])
    return next(into.glob("orchestra-*.whl"))


def _install(
    wheel: Path,
    extra: Sequence[str],
    target: Path,
    python_version: str,
    platform: str,
    *,
    offline: bool,
) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target)]
    command += ["--no-compile", "--upgrade", "--disable-pip-version-check"]
    if offline:
        command += ["--no-deps", "--no-index", str(wheel)]
    else:
        for tag in PLATFORM_TAGS.get(platform, (platform,)):
            command += ["--platform", tag]
        command += ["--implementation", "cp", "--python-version", python_version]
        command += ["--only-binary=:all:", str(wheel), *extra]
    _run(command)


def _prune(target: Path) -> None:
    """Drop what the runtime provides and what Lambda never runs."""
    for entry in list(target.iterdir()):
        name = entry.name.lower().replace("-", "_")
        provided = any(name == p or name.startswith(p + "_") for p in RUNTIME_PROVIDED)
        if provided or entry.name == "bin":
            _remove(entry)
    for leftover in list(target.rglob("*")):
        if leftover.name == "__pycache__" or (
            leftover.is_file() and leftover.suffix in BUILD_LEFTOVERS
        ):
            _remove(leftover)


def _remove(path: Path) -> None:
    shutil.rmtree(path) if path.is_dir() else path.unlink()


def _copy_handlers(source: Path, target: Path) -> None:
    """``functions/<name>/handler.py`` for every function, importable as a package."""
    target.mkdir(parents=True, exist_ok=True)
    (target / "__init__.py").write_text("")
    for handler in sorted(source.glob("*/handler.py")):
        folder = target / handler.parent.name
        folder.mkdir(exist_ok=True)
        shutil.copy2(handler, folder / "handler.py")
        (folder / "__init__.py").write_text("")


def interpreter_version(python: str) -> str | None:
    try:
        done = subprocess.run(  # noqa: S603
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def find_interpreter(version: str) -> str | None:
    """A Python of exactly ``version``: $ORCHESTRA_BUNDLE_PYTHON, PATH, pyenv, this one."""
    candidates = [os.environ.get("ORCHESTRA_BUNDLE_PYTHON") or "", f"python{version}"]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += [str(p) for p in sorted(pyenv.glob(f"{version}*/bin/python{version}"))]
    candidates.append(sys.executable)
    for candidate in filter(None, candidates):
        found = shutil.which(candidate) or (candidate if Path(candidate).exists() else None)
        if found and interpreter_version(found) == version:
            return found
    return None


def _compile(python: str, target: Path) -> None:
    _run([python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
          str(target)])  # fmt: skip


def _normalize(target: Path) -> None:
    for path in target.rglob("*"):
        os.utime(path, (FIXED_TIME, FIXED_TIME), follow_symlinks=False)


def _copy(source: Path, target: Path) -> None:
    shutil.copytree(source, target, dirs_exist_ok=True, symlinks=True)


def _save(built: Path, cached: Path) -> None:
    staging = cached.with_name(cached.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    _copy(built, staging)
    (staging / ".complete").write_text("")
    shutil.rmtree(cached, ignore_errors=True)
    staging.rename(cached)


def _report(target: Path, python_version: str, platform: str) -> BundleReport:
    report = BundleReport(target, python_version, platform)
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "bundle.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zipped:
            for path in sorted(p for p in target.rglob("*") if p.is_file()):
                relative = path.relative_to(target)
                zipped.write(path, relative)
                report.files += 1
                size = path.stat().st_size
                report.unzipped_bytes += size
                top = relative.parts[0].split("-")[0] if len(relative.parts) > 1 else "(top)"
                sizes[top] = sizes.get(top, 0) + size
                report.bytecode |= path.suffix == ".pyc"
        report.zipped_bytes = archive.stat().st_size
    report.largest = sorted(sizes.items(), key=lambda item: -item[1])[:10]
    if report.bytecode:
        report.compiler = find_interpreter(python_version)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="build the Lambda bundle (no Docker)")
    parser.add_argument("--out", type=Path, default=Path("build/lambda"))
    parser.add_argument("--python", default="3.13")
    parser.add_argument("--platform", default=ARM64_PLATFORM)
    parser.add_argument("--cache", type=Path, default=Path("build/lambda-cache"))
    args = parser.parse_args(argv)
    shutil.rmtree(args.out, ignore_errors=True)
    root = Path(__file__).resolve().parent.parent
    report = build_bundle(
        root, args.out, python_version=args.python, platform=args.platform, cache_dir=args.cache
    )
    print(report.as_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
