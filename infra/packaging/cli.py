"""The command line (``python -m infra.packaging``): build the bundle, print its report."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

from infra.packaging.build import build_bundle
from infra.packaging.model import ARM64_PLATFORM, DEFAULT_EXTRAS, BundleError

log = logging.getLogger("infra.packaging")


def main(argv: Sequence[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[2]
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
