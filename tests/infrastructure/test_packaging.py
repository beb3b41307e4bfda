"""The Lambda bundle (``infra/packaging.py``), built offline: no PyPI, no Docker, no CDK.

The real project is bundled with ``offline=True`` (project and handlers, no dependencies);
pip's own path runs against a throwaway project and a wheelhouse of generated wheels.
Bytecode tests need a Python 3.12 here and are skipped, with the reason, without one.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import logging
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from infra import packaging
from infra.packaging import (
    FIXED_MTIME,
    BundleError,
    BundleReport,
    Interpreter,
    build_bundle,
    cache_key,
    find_interpreter,
    interpreters,
    platform_tags,
    prune,
    tree_digest,
)

ROOT = Path(__file__).resolve().parents[2]
TARGET = "3.12"
HANDLERS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/handler.py"))


@pytest.fixture(autouse=True)
def _no_interpreter_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORCHESTRA_BUNDLE_PYTHON", raising=False)


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


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# -- the real project, offline -----------------------------------------------------------------


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
    assert (out / "orchestra" / "runtime_api" / "__main__.py").is_file()


def test_the_project_package_ships_as_its_wheel_would(bundle: tuple[Path, BundleReport]) -> None:
    out, report = bundle
    source = ROOT / "src" / "orchestra"
    expected = {
        p.relative_to(source)
        for p in files(source)
        if "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    shipped = {
        p.relative_to(out / "orchestra")
        for p in files(out / "orchestra")
        if "__pycache__" not in p.parts
    }
    assert shipped == expected
    assert (out / "orchestra" / "catalog" / "snapshot.json").is_file()  # package data too
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
    pyc = out / "orchestra" / "__pycache__" / "gateway.cpython-312.pyc"
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
    assert filename == "/var/task/orchestra/gateway.py"


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


# -- the pieces --------------------------------------------------------------------------------


def test_platform_tags_cover_every_glibc_the_lambda_image_runs() -> None:
    tags = platform_tags("manylinux2014_aarch64", "3.12")
    assert tags[0] == "manylinux_2_34_aarch64" and tags[-1] == "manylinux2014_aarch64"
    assert {"manylinux_2_28_aarch64", "manylinux_2_26_aarch64", "manylinux_2_17_aarch64"} <= set(
        tags
    )
    assert platform_tags("manylinux2014_x86_64", "3.11")[0] == "manylinux_2_26_x86_64"  # AL2
    assert platform_tags("manylinux_2_28_x86_64", "3.13")[0] == "manylinux_2_28_x86_64"
    assert platform_tags("any", "3.12") == ["any"]


def dist(site: Path, name: str, version: str, requires: Sequence[str] = (), *, record: bool = True,
         top: Sequence[str] = ()) -> None:  # fmt: skip
    """A distribution as pip installs it: its files, then a dist-info (RECORD optional)."""
    module = name.replace("-", "_")
    package = site / module
    package.mkdir()
    (package / "__init__.py").write_text(f"NAME = {name!r}\n")
    info = site / f"{module}-{version}.dist-info"
    info.mkdir()
    lines = [f"Name: {name}", f"Version: {version}", *(f"Requires-Dist: {r}" for r in requires)]
    (info / "METADATA").write_text("Metadata-Version: 2.1\n" + "\n".join(lines) + "\n")
    if top:
        (info / "top_level.txt").write_text("\n".join(top) + "\n")
    if record:
        entries = [f"{p.relative_to(site).as_posix()},," for p in files(package)]
        (info / "RECORD").write_text("\n".join([*entries, f"{info.name}/RECORD,,"]) + "\n")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A pip target: the runtime's own packages among the ones the bundle needs."""
    site = tmp_path / "site"
    site.mkdir()
    dist(site, "app-dep", "1.0", ["jmespath>=1", "helper[fast]", "optional; extra == 'never'"])
    dist(site, "helper", "1.0", ["fastlib; extra == 'fast'", "slowlib; extra == 'slow'"])
    dist(site, "fastlib", "1.0")
    dist(site, "slowlib", "1.0")
    dist(site, "optional", "1.0")
    dist(site, "xray", "1.0", ["botocore>=1.11", "wrapt"])
    dist(site, "wrapt", "1.0")
    dist(site, "botocore", "1.0", ["jmespath", "urllib3", "python-dateutil", "fastlib"])
    (site / "botocore" / "data").mkdir()
    (site / "botocore" / "data" / "endpoints.json").write_text("{}")
    info = site / "botocore-1.0.dist-info"
    with (info / "RECORD").open("a") as record:
        record.write('"botocore/data/endpoints.json",sha256=x,2\n../outside.txt,,\n')
    (site.parent / "outside.txt").write_text("not the site's")
    dist(site, "boto3", "1.0", ["botocore"], record=False, top=["boto3"])
    (site / "s3transfer").mkdir()  # no metadata at all
    (site / "s3transfer" / "__init__.py").write_text("")
    dist(site, "jmespath", "1.0")
    dist(site, "urllib3", "2.0")
    dist(site, "python-dateutil", "2.9", ["six"], top=["dateutil"])
    (site / "dateutil").mkdir()
    (site / "dateutil" / "parser.py").write_text("")
    with (site / "python_dateutil-2.9.dist-info" / "RECORD").open("a") as record:
        record.write("dateutil/parser.py,,\n")
    dist(site, "six", "1.0")
    # what pip leaves that nothing at run time reads
    (site / "bin").mkdir()
    (site / "bin" / "app").write_text("#!/usr/bin/python\n")
    for junk in ("tests/__init__.py", "tests/test_x.py", "__pycache__/x.cpython-311.pyc",
                 "_speedups.c", "_speedups.pyx", "core.pyi"):  # fmt: skip
        path = site / "app_dep" / junk
        path.parent.mkdir(exist_ok=True)
        path.write_text("")
    info = site / "app_dep-1.0.dist-info"
    for meta in ("INSTALLER", "REQUESTED", "direct_url.json", "entry_points.txt"):
        (info / meta).write_text("x")
    (info / "licenses").mkdir()
    (info / "licenses" / "LICENSE").write_text("MIT")
    return site


def test_prune_drops_the_runtime_and_what_only_it_needs(site: Path) -> None:
    removed = prune(site, ["app-dep>=1", "xray"])
    assert removed == ["boto3", "botocore", "python-dateutil", "six", "urllib3"]
    left = {p.name for p in site.iterdir()}
    for gone in ("botocore", "boto3", "s3transfer", "urllib3", "dateutil", "six", "bin"):
        assert gone not in left
    assert not any(name.startswith(("botocore-", "boto3-", "urllib3-", "six-")) for name in left)
    # needed by the bundle too (jmespath, fastlib through helper[fast]), or by nobody removed
    for kept in (
        "app_dep",
        "helper",
        "fastlib",
        "slowlib",
        "optional",
        "xray",
        "wrapt",
        "jmespath",
    ):
        assert (site / kept / "__init__.py").is_file(), kept
    assert (site.parent / "outside.txt").is_file()  # a RECORD entry outside the site: left alone


def test_prune_drops_caches_tests_stubs_sources_and_pip_bookkeeping(site: Path) -> None:
    prune(site, ["app-dep", "xray"])
    package, info = site / "app_dep", site / "app_dep-1.0.dist-info"
    assert sorted(p.name for p in package.iterdir()) == ["__init__.py"]
    assert sorted(p.name for p in info.iterdir()) == ["METADATA", "entry_points.txt", "licenses"]
    assert not list(site.rglob("RECORD"))
    assert not any(p.is_dir() and not any(p.iterdir()) for p in site.rglob("*"))


# -- pip's path, offline: a throwaway project and a wheelhouse ----------------------------------


def wheel(house: Path, name: str, version: str, requires: Sequence[str] = ()) -> None:
    """A minimal valid ``py3-none-any`` wheel with one module."""
    module, stem = name.replace("-", "_"), f"{name.replace('-', '_')}-{version}"
    contents = {
        f"{module}/__init__.py": f"NAME = {name!r}\n",
        f"{stem}.dist-info/METADATA": "\n".join(
            ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
            + [f"Requires-Dist: {r}" for r in requires]
        )
        + "\n",
        f"{stem}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }

    def record_line(path: str, data: str) -> str:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data.encode()).digest()).rstrip(b"=")
        return f"{path},sha256={digest.decode()},{len(data.encode())}"

    record = [record_line(p, d) for p, d in contents.items()] + [f"{stem}.dist-info/RECORD,,"]
    contents[f"{stem}.dist-info/RECORD"] = "\n".join(record) + "\n"
    with zipfile.ZipFile(house / f"{stem}-py3-none-any.whl", "w") as zf:
        for path, data in contents.items():
            zf.writestr(path, data)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    """(project root, wheelhouse): one dependency that pulls in botocore and friends."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # this machine's index settings: none
    root = tmp_path / "proj"
    (root / "src" / "demo_app").mkdir(parents=True)
    (root / "src" / "demo_app" / "__init__.py").write_text("VALUE = 1\n")
    (root / "src" / "demo_app" / "data.json").write_text("{}")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "demo-app"\nversion = "1.2.3"\n'
        'dependencies = ["orchtest-alpha>=1", "orchtest-gamma; python_version < \'3.0\'"]\n'
        '[tool.hatch.build.targets.wheel]\npackages = ["src/demo_app"]\n'
    )
    for name in ("hello", "other"):
        (root / "functions" / name).mkdir(parents=True)
        (root / "functions" / name / "handler.py").write_text(
            "import demo_app\nimport orchtest_alpha\n\ndef handler(event, context):\n"
            "    return demo_app.VALUE\n"
        )
    (root / "functions" / "other" / "__init__.py").write_text("# kept as it is\n")
    house = tmp_path / "wheels"
    house.mkdir()
    wheel(house, "orchtest-alpha", "1.0", ["jmespath>=1", "botocore"])
    wheel(house, "orchtest-xray", "1.0", ["botocore"])
    wheel(house, "botocore", "9.0", ["jmespath", "urllib3"])
    wheel(house, "jmespath", "9.0")
    wheel(house, "urllib3", "9.0")
    yield root, house


@pytest.mark.slow
def test_an_offline_build_installs_from_the_wheelhouse_for_the_target(
    project: tuple[Path, Path], tmp_path: Path
) -> None:
    root, house = project
    out = tmp_path / "out"
    report = build_bundle(
        root,
        out,
        python_version=TARGET,
        extra_requirements=("orchtest-xray",),
        offline=True,
        find_links=[house],
    )
    assert report.dependencies and not any("dependencies" in w for w in report.warnings)
    assert report.pruned == ("botocore", "urllib3")
    assert dict(report.distributions) == {
        "demo-app": "1.2.3",
        "jmespath": "9.0",
        "orchtest-alpha": "1.0",
        "orchtest-xray": "1.0",
    }
    assert (out / "demo_app" / "data.json").is_file() and not (out / "botocore").exists()
    assert not (out / "bin").exists() and not list(out.rglob("RECORD"))
    assert report.functions == ("hello", "other")
    assert (out / "functions" / "other" / "__init__.py").read_text() == "# kept as it is\n"
    assert (out / "functions" / "hello" / "__init__.py").read_text() == ""
    # the bundle runs its handlers (pure Python here: this interpreter will do)
    check = "import functions.hello.handler as h; print(h.handler({}, None))"
    done = subprocess.run(
        [sys.executable, "-S", "-c", check],
        env={**os.environ, "PYTHONPATH": str(out)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "1"


def test_the_cache_key_follows_every_input_and_nothing_else(project: tuple[Path, Path]) -> None:
    root, _ = project
    key = cache_key(root)
    assert cache_key(root) == key
    (root / "src" / "demo_app" / "__pycache__").mkdir()
    (root / "src" / "demo_app" / "__pycache__" / "x.cpython-312.pyc").write_bytes(b"junk")
    (root / "README.md").write_text("not shipped")
    assert cache_key(root) == key
    changed = {
        cache_key(root, python_version="3.13"),
        cache_key(root, platform="manylinux2014_x86_64"),
        cache_key(root, extra_requirements=()),
        cache_key(root, offline=True),
        cache_key(root, strip_debug=False),
    }
    assert key not in changed and len(changed) == 5
    (root / "functions" / "hello" / "handler.py").write_text("# changed\n")
    assert cache_key(root) != key


def test_function_folders_must_be_python_identifiers(
    project: tuple[Path, Path], tmp_path: Path
) -> None:
    root, _ = project
    (root / "functions" / "multi-generate").mkdir()
    (root / "functions" / "multi-generate" / "handler.py").write_text("")
    with pytest.raises(BundleError, match="multi-generate"):
        build_bundle(root, tmp_path / "out", offline=True)
