"""Bundle pieces (``infra/packaging.py``): the platform tags pip installs for, and pruning a
pip target of the Lambda runtime's own packages and of what nothing reads at run time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from infra.packaging import (
    platform_tags,
    prune,
)

from support.packaging import files

pytestmark = pytest.mark.usefixtures("no_interpreter_override")


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
