"""The bundle's pip path (``infra/packaging.py``), offline: a throwaway project installed from
a wheelhouse of generated wheels; the build cache's key; function folder names."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from infra.packaging import (
    BundleError,
    build_bundle,
    cache_key,
)

from support.packaging import TARGET

pytestmark = pytest.mark.usefixtures("no_interpreter_override")


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
