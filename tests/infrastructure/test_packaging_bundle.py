"""The Lambda bundle (``infra/packaging.py``) of the real project, built offline: no PyPI,
no Docker, no CDK.

The project is bundled with ``offline=True`` (project and handlers, no dependencies).
Bytecode tests need a Python 3.12 here and are skipped, with the reason, without one.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from infra import packaging
from infra.packaging import (
    FIXED_MTIME,
    BundleError,
    BundleReport,
    Interpreter,
    build_bundle,
    find_interpreter,
    interpreters,
    tree_digest,
)

from support.packaging import ROOT, TARGET, files

pytestmark = pytest.mark.usefixtures("no_interpreter_override")

HANDLERS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/handler.py"))


@pytest.fixture(scope="module")
def target_python() -> Interpreter:
    found = find_interpreter(TARGET)
    if found is None:
        pytest.skip(f"no Python {TARGET} interpreter here (PATH, pyenv): bytecode not testable")
    return found


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BundleReport]:
    """The real project, offline: orchestra, its metadata, the handlers, bytecode if possible."""
    out = tmp_path_factory.mktemp("bundle") / "out"
    return out, build_bundle(ROOT, out, python_version=TARGET, offline=True)


def test_every_handler_is_shipped_as_a_package(bundle: tuple[Path, BundleReport]) -> None:
    out, report = bundle
    assert HANDLERS and report.functions == tuple(HANDLERS)
    assert (out / "functions" / "__init__.py").read_text() == ""
    for name in HANDLERS:
        shipped = out / "functions" / name
        assert (shipped / "handler.py").read_bytes() == (
            ROOT / "functions" / name / "handler.py"
        ).read_bytes()
        assert (shipped / "__init__.py").is_file()
    # the streaming functions' AWS_LAMBDA_EXEC_WRAPPER, executable, and the runtime it starts
    wrapper = out / "functions" / "stream_runtime"
    assert wrapper.read_bytes() == (ROOT / "functions" / "stream_runtime").read_bytes()
    assert wrapper.stat().st_mode & 0o777 == 0o755
    assert (out / "orchestra" / "aws_lambda" / "runtime_api" / "__main__.py").is_file()


def test_the_project_package_ships_as_its_wheel_would(bundle: tuple[Path, BundleReport]) -> None:
    out, report = bundle
    source = ROOT / "src" / "orchestra"
    expected = {
        p.relative_to(source)
        for p in files(source)
        if "__pycache__" not in p.parts
        and p.suffix != ".pyc"
        # orchestra eval's datasets stay out: no function reads them
        and p.relative_to(source).parts[:2] != ("evaluation", "data")
    }
    shipped = {
        p.relative_to(out / "orchestra")
        for p in files(out / "orchestra")
        if "__pycache__" not in p.parts
    }
    assert shipped == expected
    assert (out / "orchestra" / "catalog" / "snapshot.json").is_file()  # package data too
    assert (source / "evaluation" / "data" / "gsm8k" / "test.jsonl").is_file()
    assert not (out / "orchestra" / "evaluation" / "data").exists()
    (dist,) = importlib.metadata.distributions(path=[str(out)])
    assert (dist.metadata["Name"], dist.version) == ("orchestra", "0.1.0")
    assert any(r.startswith("pydantic") for r in dist.requires or [])
    assert not report.dependencies and report.distributions == (("orchestra", "0.1.0"),)
    assert any("dependencies not installed" in w for w in report.warnings)


def test_bytecode_is_compiled_for_the_target_with_unchecked_hashes(
    bundle: tuple[Path, BundleReport], target_python: Interpreter
) -> None:
    out, report = bundle
    assert report.bytecode and report.interpreter and target_python.path in report.interpreter
    sources = [p for p in files(out) if p.suffix == ".py"]
    for source in sources:
        assert (source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc").is_file(), source
    pycs = [p for p in files(out) if p.suffix == ".pyc"]
    assert len(pycs) == len(sources)
    assert all(p.name.endswith(".cpython-312.pyc") for p in pycs)
    magic = subprocess.run(
        [
            target_python.path,
            "-c",
            "import importlib.util; print(importlib.util.MAGIC_NUMBER.hex())",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for pyc in pycs:
        header = pyc.read_bytes()[:16]
        assert header[:4].hex() == magic, pyc
        # PEP 552 flags: bit 0 hash-based, bit 1 check_source -> 0b01 = unchecked hash
        assert int.from_bytes(header[4:8], "little") == 0b01, pyc
    # tracebacks name Lambda's paths, not this machine's
    pyc = out / "orchestra" / "generate" / "__pycache__" / "service.cpython-312.pyc"
    filename = subprocess.run(
        [
            target_python.path,
            "-c",
            f"import marshal; print(marshal.loads(open({str(pyc)!r}, 'rb').read()[16:]).co_filename)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert filename == "/var/task/orchestra/generate/service.py"


def test_the_report_adds_up(bundle: tuple[Path, BundleReport], tmp_path: Path) -> None:
    out, report = bundle
    shipped = files(out)
    assert report.files == len(shipped)
    assert report.unzipped_bytes == sum(p.stat().st_size for p in shipped)
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in shipped:
            zf.write(path, path.relative_to(out).as_posix())
    assert report.zipped_bytes == archive.stat().st_size
    sizes = [size for _, size in report.largest]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) <= report.unzipped_bytes
    assert report.largest[0][0] == "orchestra" and len(report.largest) <= 10
    assert report.digest == tree_digest(out) and report.within_limits
    assert BundleReport.from_dict(json.loads(json.dumps(report.as_dict()))) == report
    text = report.as_text()
    for figure in (f"{report.files}", "250 MB", "50 MB", "orchestra", TARGET):
        assert figure in text


def test_every_path_has_a_fixed_mtime_and_a_readable_mode(
    bundle: tuple[Path, BundleReport],
) -> None:
    out, _ = bundle
    for path in [out, *out.rglob("*")]:
        info = path.lstat()
        assert info.st_mtime == FIXED_MTIME, path
        assert (info.st_mode & 0o777) in ({0o755} if path.is_dir() else {0o644, 0o755}), path


def test_two_builds_are_identical_and_the_second_comes_from_the_cache(tmp_path: Path) -> None:
    first = build_bundle(ROOT, tmp_path / "a", python_version=TARGET, offline=True)
    cache = tmp_path / "cache"
    cold = build_bundle(ROOT, tmp_path / "b", python_version=TARGET, offline=True, cache_dir=cache)
    warm = build_bundle(ROOT, tmp_path / "c", python_version=TARGET, offline=True, cache_dir=cache)
    digests = {tree_digest(tmp_path / name) for name in "abc"}
    assert len(digests) == 1 and first.digest in digests
    assert not first.cache_hit and not cold.cache_hit and warm.cache_hit
    assert warm.key == cold.key == first.key
    assert (warm.files, warm.zipped_bytes) == (cold.files, cold.zipped_bytes)
    assert (cache / cold.key / "report.json").is_file()


def test_without_a_target_interpreter_the_bundle_ships_without_bytecode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(interpreters, "_candidates", lambda _version: iter(()))
    with caplog.at_level(logging.WARNING, logger="infra.packaging"):
        report = build_bundle(ROOT, tmp_path / "out", python_version="3.99", offline=True)
    assert "NO Python 3.99 interpreter" in caplog.text
    assert not report.bytecode and report.interpreter is None
    assert not list((tmp_path / "out").rglob("*.pyc"))
    assert "NONE" in report.as_text() and any("no bytecode" in w for w in report.warnings)


def test_an_explicit_interpreter_must_be_of_the_target_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = "3.99"
    with pytest.raises(BundleError, match="compile_with"):
        build_bundle(ROOT, tmp_path / "a", python_version=other, compile_with=sys.executable)
    monkeypatch.setenv("ORCHESTRA_BUNDLE_PYTHON", sys.executable)
    with pytest.raises(BundleError, match="ORCHESTRA_BUNDLE_PYTHON"):
        find_interpreter(other)
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert find_interpreter(here) == Interpreter(sys.executable, here)


def test_the_output_directory_must_be_empty(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(BundleError, match="not empty"):
        build_bundle(ROOT, tmp_path, offline=True)
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_the_command_line_builds_replaces_a_bundle_and_refuses_anything_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "lambda"
    args = ["--out", str(out), "--offline", "--no-cache", "--python", TARGET]
    assert packaging.main(args) == 0
    assert packaging.main(args) == 0  # the previous bundle is replaced
    printed = capsys.readouterr().out
    assert "Lambda bundle: Python 3.12" in printed and f"bundle: {out}" in printed
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit):
        packaging.main(["--out", str(tmp_path), "--offline", "--no-cache"])
    assert (tmp_path / "notes.txt").exists()
