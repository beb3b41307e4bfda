"""The Lambda bundle's size against Lambda's limits, as ``cdk synth`` builds it.

Builds (arm64, the stage's Python unless ``--python``) through the packaging cache
(``build/lambda-cache``): the first run pays pip and the bytecode, later runs copy. Prints
unzipped and zipped MB against 250 MB unzipped / 50 MB zipped direct upload, the file
count, the largest top-level packages and the build time. Figures, not a test.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # infra/ is not an installed package

from infra.config import load_stage  # noqa: E402
from infra.packaging import (  # noqa: E402
    ARM64_PLATFORM,
    UNZIPPED_LIMIT,
    ZIPPED_LIMIT,
    build_bundle,
)

MB = 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev", help="whose Python to target (dev)")
    parser.add_argument("--python", help="target Python (default: the stage's)")
    parser.add_argument("--platform", default=ARM64_PLATFORM)
    parser.add_argument("--cache", type=Path, default=ROOT / "build" / "lambda-cache")
    parser.add_argument("--no-cache", action="store_true", help="a cold build, not cached")
    args = parser.parse_args()
    python = args.python or load_stage(args.stage).python
    out = Path(tempfile.mkdtemp(prefix="orchestra-bundle-bench-"))
    try:
        report = build_bundle(
            ROOT,
            out / "bundle",
            python_version=python,
            platform=args.platform,
            cache_dir=None if args.no_cache else args.cache,
        )
    finally:
        shutil.rmtree(out)
    how = "from the cache" if report.cache_hit else "cold build (pip, strip, bytecode)"
    print(f"Lambda bundle, Python {python} on {args.platform}: {how} in {report.seconds:.1f} s")
    print(
        f"unzipped   {report.unzipped_bytes / MB:7.2f} MB   limit {UNZIPPED_LIMIT / MB:.0f} MB "
        f"({report.unzipped_bytes / UNZIPPED_LIMIT:.0%})"
    )
    print(
        f"zipped     {report.zipped_bytes / MB:7.2f} MB   limit {ZIPPED_LIMIT / MB:.0f} MB "
        f"direct upload ({report.zipped_bytes / ZIPPED_LIMIT:.0%}; CDK uploads through S3)"
    )
    print(f"files      {report.files:7d}")
    print(f"packages   {len(report.distributions):7d} distributions")
    stripped = f"-{report.stripped_bytes / MB:.2f} MB" if report.strip_tool else "not stripped"
    print(f"bytecode   {'yes' if report.bytecode else 'NO'}; .so debug info {stripped}")
    print("largest top-level packages (unzipped):")
    for name, size in report.largest:
        print(f"  {name:<28} {size / MB:7.2f} MB")
    for warning in report.warnings:
        print(f"WARNING: {warning}")


if __name__ == "__main__":
    main()
