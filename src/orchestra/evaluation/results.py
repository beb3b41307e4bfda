"""The run's files in ``--out DIR``: ``run.json`` (the :class:`~.records.Manifest`: what the
results answer) and ``results.jsonl`` (one :class:`~.records.Result` per line, append-only).

Append-only so an interrupted run loses nothing: each result is one ``write`` of a whole line,
flushed to disk before the next, and a rerun reads what is there and asks only the rest.
A line torn by a crash can only be the last one; loading drops it (and cuts it off the file
before anything is appended after it). A pair answered twice (a retryable failure asked again)
keeps its LAST line. A rerun against another dataset file, seed or gateway is refused: mixing
their answers would make every figure of the report wrong.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path
from types import TracebackType

from pydantic import ValidationError

from orchestra.evaluation.records import Manifest, Result

MANIFEST = "run.json"
RESULTS = "results.jsonl"

#: the manifest fields a rerun must repeat (``created_at`` and ``version`` may differ)
_SAME = ("fingerprint", "seed", "base_url", "simulated")
#: and those recorded since version 2 (an older manifest did not record them)
_SAME_SINCE_2 = (
    ("max_tokens", "--max-tokens"),
    ("judge", "--judge"),
    ("temperature", "--temperature"),
)

Key = tuple[str, str]


class ResultsError(ValueError):
    """The out directory's files cannot be continued: another run's, or corrupt."""


class ResultsFile:
    """``run.json`` + ``results.jsonl`` in ``out_dir``; :meth:`open` before :meth:`append`."""

    def __init__(self, out_dir: Path | str) -> None:
        self.out_dir = Path(out_dir)
        self.manifest_path = self.out_dir / MANIFEST
        self.path = self.out_dir / RESULTS
        self._fd: int | None = None

    def manifest(self) -> Manifest | None:
        """The manifest written by an earlier run (None: a new directory)."""
        if not self.manifest_path.exists():
            return None
        try:
            return Manifest.model_validate_json(self.manifest_path.read_bytes())
        except ValidationError as exc:
            raise ResultsError(
                f"{self.manifest_path}: not a run manifest ({one_line(exc)})"
            ) from exc

    def peek(self, manifest: Manifest, *, fresh: bool = False) -> dict[Key, Result]:
        """What :meth:`open` would continue, writing nothing: the run can still be refused
        (the estimate) with the directory as it was. ``fresh``: nothing (it would be
        discarded). Raises :class:`ResultsError` as :meth:`open` does."""
        if fresh:
            return {}
        earlier = self.manifest()
        if earlier is None:
            return {}
        _check_same(earlier, manifest, self.out_dir)
        return self.load()

    def open(self, manifest: Manifest, *, fresh: bool = False) -> dict[Key, Result]:
        """Start or continue the run ``manifest`` describes; returns the results already there.

        ``fresh`` discards an earlier run's files first. Raises :class:`ResultsError` when the
        directory holds another run (another dataset file, seed, gateway, --max-tokens or
        judge), or cannot hold one (a file, an unwritable place)."""
        if fresh:
            self.discard()
        earlier = self.manifest()
        if earlier is not None:
            _check_same(earlier, manifest, self.out_dir)
        else:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            _write_atomic(self.manifest_path, manifest.model_dump_json(indent=2) + "\n")
        results = self.load()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return results

    def load(self) -> dict[Key, Result]:
        """Each pair's last line; a torn last line is cut off the file (it held no answer)."""
        if not self.path.exists():
            return {}
        data = self.path.read_bytes()
        whole = data.rfind(b"\n") + 1
        if whole < len(data):  # a crash mid-write: the partial line is dropped for good
            os.truncate(self.path, whole)
        results: dict[Key, Result] = {}
        for number, line in enumerate(data[:whole].splitlines(), 1):
            if not line.strip():
                continue
            try:
                result = Result.model_validate_json(line)
            except ValidationError as exc:
                raise ResultsError(
                    f"{self.path}:{number}: not a result line ({one_line(exc)})"
                ) from exc
            results[result.key] = result
        return results

    def spent_including_retries(self, keys: Collection[Key]) -> float:
        """USD every line of the pairs ``keys`` records, not only each pair's last: a
        retryable failure asked again was paid for each time (the spend cap and the
        report's total count it). A line re-grading an earlier ungraded answer repeats
        that answer's outcome; it counts only its grading (the answer was paid once)."""
        if not self.path.exists():
            return 0.0
        data = self.path.read_bytes()
        last: dict[Key, Result] = {}
        total = 0.0
        for line in data[: data.rfind(b"\n") + 1].splitlines():
            if not line.strip():
                continue
            try:
                result = Result.model_validate_json(line)
            except ValidationError:  # load() names the bad line; the spend skips it
                continue
            if result.key not in keys:
                continue
            before = last.get(result.key)
            if not (before and before.ungraded and before.outcome == result.outcome):
                total += result.outcome.cost_usd
            total += result.grade.cost_usd if result.grade else 0.0
            last[result.key] = result
        return total

    def append(self, result: Result) -> None:
        """One whole line, on disk before this returns (one ``write``, then ``fsync``)."""
        if self._fd is None:
            raise RuntimeError("ResultsFile.append before open")
        line = (result.model_dump_json() + "\n").encode()
        written = os.write(self._fd, line)
        if written != len(line):  # a full disk: cut the partial line so the file stays whole
            os.ftruncate(self._fd, os.fstat(self._fd).st_size - written)
            raise OSError(f"{self.path}: short write ({written} of {len(line)} bytes)")
        os.fsync(self._fd)

    def discard(self) -> None:
        """Remove the run's files (``--fresh``); its report is rewritten at the end."""
        for path in (self.path, self.manifest_path):
            path.unlink(missing_ok=True)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def _check_same(earlier: Manifest, now: Manifest, out_dir: Path) -> None:
    fields = [(name, name) for name in _SAME]
    if earlier.version >= 2:
        fields += _SAME_SINCE_2
    for name, said in fields:
        before, after = getattr(earlier, name), getattr(now, name)
        if before != after:
            raise ResultsError(
                f"{out_dir} holds another run ({said} was {before!r}, now {after!r}; "
                f"dataset {earlier.dataset}): use another --out, or --fresh to discard it"
            )


def one_line(exc: ValidationError) -> str:
    """A pydantic error in one line: its first problem and where (no URL, no newline)."""
    errors = exc.errors()
    if not errors:
        return "invalid"
    where = ".".join(str(part) for part in errors[0].get("loc", ())) or "line"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {errors[0].get('msg', 'invalid')}{more}"


def _write_atomic(path: Path, text: str) -> None:
    """The manifest is never half-written: a temporary file renamed over it."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text, encoding="utf-8")
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)
