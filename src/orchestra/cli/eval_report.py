"""``orchestra eval report --out DIR``, and the report every run ends with: written from the
files in ``--out`` alone (``run.json`` says how the answers were measured, ``results.jsonl``
holds them), so it can be rebuilt at any time without asking the gateway anything."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from orchestra.cli.evaluate import EXIT_DONE, EXIT_USAGE

if TYPE_CHECKING:
    from orchestra.evaluation.records import Dataset, Manifest


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def write_report(
    out: Path, dataset: Dataset, order: Sequence[str] = (), manifest: Manifest | None = None
) -> list[Path]:
    """The report from the files in ``out``: every strategy there (``order`` first), on the
    items EVERY strategy with a result answered, so accuracy, the baseline, McNemar, matched
    cost and Pareto compare like with like, and the report after a run and ``eval report``
    agree whatever ``--limit`` the last run had; its header says how they were measured."""
    from orchestra.evaluation import report
    from orchestra.evaluation.results import ResultsFile
    from orchestra.evaluation.strategies import parse

    files = ResultsFile(out)
    # an answer whose grading failed is no result yet (the rerun grades it): left out
    results = {key: r for key, r in files.load().items() if not r.ungraded}
    specs = list(dict.fromkeys([*order, *(key[0] for key in results)]))
    common, partial = common_items(dataset, results)
    summary = report.summarise([parse(s) for s in specs], common, results)
    meta = report_meta(dataset, len(common), manifest or files.manifest(), partial)
    return report.write(summary, out, title=f"orchestra eval: {dataset.name}", meta=meta)


def common_items(
    dataset: Dataset, results: Mapping[tuple[str, str], object]
) -> tuple[list[str], int]:
    """The ids every strategy with a result answered (the dataset's order first), and how
    many more some answered. A strategy with no result at all (stopped before its first)
    shows as not run instead of emptying the report."""
    answered: dict[str, set[str]] = {}
    for spec, item in results:
        answered.setdefault(spec, set()).add(item)
    if not answered:
        return [], 0
    every = set.intersection(*answered.values())
    some = set.union(*answered.values())
    order = {item.id: n for n, item in enumerate(dataset.items)}
    ids = sorted(every, key=lambda i: (order.get(i, len(order)), i))
    return ids, len(some) - len(every)


def report_meta(
    dataset: Dataset, answered: int, manifest: Manifest | None, partial: int = 0
) -> dict[str, str]:
    """The report's header: what was measured, how, when, and by which version."""
    from datetime import UTC, datetime

    meta = {"dataset": dataset.name if dataset.name == "gsm8k" else dataset.path}
    meta["fingerprint"] = dataset.fingerprint
    left = (
        f" ({partial} more answered by some strategies are left out: complete them with "
        "the same --limit)"
        if partial
        else ""
    )
    meta["items"] = (
        f"{answered} answered by every strategy{left}, of the dataset's {dataset.total} "
        "(shuffled by the seed)"
    )
    if manifest is not None:
        where = manifest.base_url or "in-process (this checkout's gateway, local config)"
        meta["measured"] = where + "; answered by " + _answered_by(manifest)
        meta["seed"] = str(manifest.seed)
        started = datetime.fromtimestamp(manifest.created_at, UTC)
        meta["started"] = started.strftime("%Y-%m-%d %H:%M UTC")
    meta["orchestra"] = _version()
    return meta


def _answered_by(manifest: Manifest) -> str:
    if not manifest.simulated:
        return "the gateway's configured providers"
    if manifest.base_url:
        return "its SIMULATOR (every model it serves is simulated): not real models"
    return (
        "the LOCAL SIMULATOR from the dataset's answers at each model's accuracy: the "
        "figures measure the harness, not real models"
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("orchestra")
    except PackageNotFoundError:
        return "unknown (not installed)"


def cmd_report(args: argparse.Namespace) -> int:
    """``orchestra eval report --out DIR``: the report again, from the run's files."""
    from orchestra.evaluation.datasets import DatasetError, load
    from orchestra.evaluation.results import ResultsError, ResultsFile

    out = Path(args.out or ".")
    try:
        manifest = ResultsFile(out).manifest()
        if manifest is None:
            _error(f"{out / 'run.json'} not found: not an eval output directory (--out DIR)")
            return EXIT_USAGE
        dataset = load(manifest.dataset, seed=manifest.seed)
        if dataset.fingerprint != manifest.fingerprint:
            _error(f"{manifest.dataset} changed since the run (fingerprint differs)")
            return EXIT_USAGE
        written = write_report(out, dataset, manifest=manifest)
    except (ResultsError, DatasetError, OSError, ValueError) as exc:
        # ValueError: a strategy spec in results.jsonl this version cannot parse
        _error(str(exc))
        return EXIT_USAGE
    for path in written:
        print(path)
    return EXIT_DONE
