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

from infra.packaging.build import build_bundle, cache_key
from infra.packaging.cli import main
from infra.packaging.dists import prune
from infra.packaging.files import tree_digest
from infra.packaging.interpreters import find_interpreter
from infra.packaging.model import (
    ARM64_PLATFORM,
    DEFAULT_EXTRAS,
    FIXED_MTIME,
    UNZIPPED_LIMIT,
    X86_64_PLATFORM,
    ZIPPED_LIMIT,
    BundleError,
    BundleReport,
    Interpreter,
)
from infra.packaging.platforms import platform_tags

__all__ = [
    "ARM64_PLATFORM",
    "DEFAULT_EXTRAS",
    "FIXED_MTIME",
    "UNZIPPED_LIMIT",
    "X86_64_PLATFORM",
    "ZIPPED_LIMIT",
    "BundleError",
    "BundleReport",
    "Interpreter",
    "build_bundle",
    "cache_key",
    "find_interpreter",
    "main",
    "platform_tags",
    "prune",
    "tree_digest",
]
