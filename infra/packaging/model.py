"""The bundle's vocabulary: targets, limits, what is pruned, errors and the report."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
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
#: the project's own package data no function reads, relative to its package: the datasets
#: ``orchestra eval`` bundles (a laptop command; GSM8K alone is 0.74 MB)
LEFT_OUT_OF_BUNDLE = ("evaluation/data",)
#: pip's bookkeeping: stale once pruned (RECORD), or naming the build machine (direct_url)
PRUNED_METADATA = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
#: a cache entry is ``<key>/bundle/`` plus ``<key>/report.json``, written last
CACHED_REPORT = "report.json"
KEEP_CACHE_ENTRIES = 3


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
