"""``orchestra eval --dataset FILE|gsm8k --strategy SPEC ...`` and ``orchestra eval report
--out DIR``: whether orchestration pays, measured through the gateway's own HTTP API.

Composition only: the gateway in-process (the services and the ASGI app, called over
``httpx.ASGITransport``; the simulator answers from the dataset when no provider is
configured) or a deployed one (``--base-url`` and a key); the estimate and the ``--max-cost``
refusal; the run (:mod:`orchestra.evaluation.runner`) with its progress bar on stderr; the
report. Exit codes: 0 done, 1 some pairs failed, 2 usage or dataset error (or the key
refused), 3 refused or stopped by ``--max-cost`` or halted by the key's budget
(``budget_exceeded``): every spend refusal is 3.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestra.cli.eval_access import (
    AccessError,
    Said,
    api_key,
    gateway,
    gateway_said,
    public_url,
    simulator_only,
)
from orchestra.cli.eval_confirm import ProgressBar, confirmed

if TYPE_CHECKING:
    from orchestra.evaluation.client import GatewayClient
    from orchestra.evaluation.estimate import Estimate
    from orchestra.evaluation.records import Dataset, Item, Manifest, Result
    from orchestra.evaluation.results import ResultsFile
    from orchestra.evaluation.strategies import Strategy

EXIT_DONE, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3
#: the cap counts what earlier runs into the same --out spent on these pairs
STOPPED = (
    "stopped: --max-cost ${:g} reached (this --out's spend on these pairs counted); "
    "rerun with a higher --max-cost to continue"
)


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


@dataclass
class Plan:
    """What the command line asks: parsed before anything is built."""

    source: str
    dataset: Dataset
    strategies: list[Strategy]
    out: Path


def _plan(args: argparse.Namespace) -> Plan | None:
    """The dataset and strategies, or None after saying what is wrong (exit 2)."""
    if not args.dataset or not args.strategy:
        _error("orchestra eval needs --dataset and at least one --strategy")
        return None
    for name, low in (
        ("limit", 1),
        ("concurrency", 1),
        ("max_cost", 0),
        ("max_tokens", 1),
        ("answer_tokens", 1),
        ("temperature", 0),
        ("debate_timeout", 1),
    ):
        value = getattr(args, name)
        if value is not None and (not math.isfinite(value) or value < low):
            _error(f"--{name.replace('_', '-')} must be at least {low} (got {value})")
            return None
    try:  # before anything is built: a bad key or URL is one line, never echoed
        api_key(args)
        if args.base_url:
            public_url(args.base_url)
    except AccessError as exc:
        _error(str(exc))
        return None
    from orchestra.evaluation.datasets import DatasetError, load
    from orchestra.evaluation.strategies import parse

    source = args.dataset if args.dataset == "gsm8k" else str(Path(args.dataset).resolve())
    try:
        strategies = list({s.spec: s for s in map(parse, args.strategy)}.values())
        dataset = load(source, limit=args.limit, seed=args.seed)
    except (DatasetError, ValueError, OSError) as exc:
        _error(str(exc))
        return None
    out = Path(args.out) if args.out else Path("eval") / dataset.name
    return Plan(source, dataset, strategies, out)


def cmd_eval(args: argparse.Namespace) -> int:
    import asyncio

    if args.action == "report":
        from orchestra.cli.eval_report import cmd_report

        return cmd_report(args)
    plan = _plan(args)
    if plan is None:
        return EXIT_USAGE
    try:
        return asyncio.run(_run(args, plan))
    except Said:
        return EXIT_USAGE
    except AccessError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:  # every finished pair is on disk: the same command continues
        print(f"\ninterrupted: rerun the same command to continue ({plan.out})", file=sys.stderr)
        return 130


async def _run(args: argparse.Namespace, plan: Plan) -> int:
    """Nothing is spent, written or discarded (``--fresh``) before the models are checked,
    the judge picked, and the estimate confirmed."""
    from orchestra.errors import GatewayCallFailed
    from orchestra.evaluation.client import GatewayClient
    from orchestra.evaluation.results import ResultsFile

    async with gateway(args, plan.dataset) as (http, simulated):
        client = GatewayClient(http, timeout_s=args.debate_timeout)
        try:  # the first call: an unreachable gateway or a refused key ends here, once
            models = await client.models(retries=0)
        except GatewayCallFailed as exc:
            _error(gateway_said(args.base_url, exc))
            return EXIT_USAGE
        judge = _judge(args, models, plan)
        if not _served(plan, judge, models):
            return EXIT_USAGE
        manifest = _manifest(args, plan, judge, simulated, models)
        with ResultsFile(plan.out) as results:
            cost = _coster(models, args, judge)
            if (refused := _agreed(args, plan, results, manifest, cost)) is not None:
                return refused
            return await _measure(args, plan, client, results, judge, cost)


def _manifest(
    args: argparse.Namespace,
    plan: Plan,
    judge: str | None,
    simulated: bool,
    models: Sequence[Mapping[str, Any]],
) -> Manifest:
    from orchestra.evaluation.records import Manifest

    url = public_url(args.base_url) if args.base_url else None
    manifest = Manifest(
        dataset=plan.source,
        fingerprint=plan.dataset.fingerprint,
        seed=args.seed,
        created_at=time.time(),
        base_url=url,
        simulated=simulated or (url is not None and simulator_only(models)),
        max_tokens=args.max_tokens,
        judge=judge,
        temperature=args.temperature,
    )
    if url and manifest.simulated:
        print(f"NOTE: {url} serves SIMULATED models only", file=sys.stderr)
    return manifest


def _served(plan: Plan, judge: str | None, models: Sequence[Mapping[str, Any]]) -> bool:
    """Every model named is one the gateway serves (else one line, exit 2, nothing spent);
    a name that may be an alias of a served model is only warned about."""
    from orchestra.evaluation.strategies import unserved

    missing = unserved(plan.strategies, judge, models)
    for found in missing:
        if found.sure:
            _error(found.describe() + " (see GET /v1/models, or `orchestra models`)")
        else:
            print(f"warning: {found.describe()}; asking anyway (an alias?)", file=sys.stderr)
    return not any(found.sure for found in missing)


def _agreed(
    args: argparse.Namespace, plan: Plan, results: ResultsFile, manifest: Manifest, cost: Any
) -> int | None:
    """Check ``--out``, estimate and confirm, THEN open it (``--fresh`` discards only now);
    None to go on, else the exit code."""
    from orchestra.evaluation.results import ResultsError

    try:
        earlier = results.peek(manifest, fresh=args.fresh)
        done = _resumed(plan, earlier)
        spent = results.spent_including_retries(_planned(plan)) if earlier else 0.0
        if not confirmed(args, cost(plan.strategies, plan.dataset.items, done), spent):
            return EXIT_REFUSED
        results.open(manifest, fresh=args.fresh)
    except ResultsError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except OSError as exc:  # --out names a file, or a place that cannot be written
        _error(f"cannot use --out {plan.out}: {exc.strerror or type(exc).__name__}")
        return EXIT_USAGE
    return None


def _planned(plan: Plan) -> set[tuple[str, str]]:
    return {(s.spec, item.id) for s in plan.strategies for item in plan.dataset.items}


def _resumed(plan: Plan, earlier: Mapping[tuple[str, str], Result]) -> set[tuple[str, str]]:
    """The pairs of this command already answered for good in ``--out``; says so."""
    planned = _planned(plan)
    done = {key for key, result in earlier.items() if result.final and key in planned}
    again = sum(1 for key, result in earlier.items() if not result.final and key in planned)
    if earlier:
        retried = f", {again} failed or ungraded ones tried again" if again else ""
        print(
            f"resuming {plan.out}: {len(done)} pairs already answered of {len(planned)} "
            f"(not asked again{retried}); {len(planned) - len(done)} to ask",
            file=sys.stderr,
        )
    return done


async def _measure(
    args: argparse.Namespace,
    plan: Plan,
    client: GatewayClient,
    results: Any,
    judge: str | None,
    cost: Any,
) -> int:
    """Run, report: the exit code."""
    from orchestra.evaluation.execute import Executor
    from orchestra.evaluation.grading import Grader
    from orchestra.evaluation.runner import STOPPED_MAX_COST, EvalRun

    bar = ProgressBar(sys.stderr)
    run = EvalRun(
        Executor(client, max_tokens=args.max_tokens, seed=args.seed, temperature=args.temperature),
        Grader(client, judge),
        results,
        plan.strategies,
        plan.dataset.items,
        concurrency=args.concurrency,
        max_cost=args.max_cost,
        pair_cost=lambda s, i: cost([s], [i], set()).total_usd,
        on_progress=bar,
        halt=lambda: None if client.refused is None else "refused",
    )
    report = await run.run()
    bar.close()
    if client.refused is not None:  # one line, not every pair failing the same way
        said = gateway_said(args.base_url, client.refused)
        _error(said + " (the pairs it refused are asked on rerun)")
        return EXIT_REFUSED if client.over_budget else EXIT_USAGE
    if not _reported(plan):
        return EXIT_USAGE
    if report.stopped == STOPPED_MAX_COST:
        print(STOPPED.format(args.max_cost), file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_FAILED if report.progress.errors else EXIT_DONE


def _reported(plan: Plan) -> bool:
    from orchestra.cli.eval_report import write_report

    try:
        written = write_report(plan.out, plan.dataset, [s.spec for s in plan.strategies])
    except (ValueError, OSError) as exc:  # ResultsError, a spec an older version wrote
        _error(f"the report could not be written: {exc}")
        return False
    print(f"report: {written[0] if written else plan.out}", file=sys.stderr)
    return True


def _coster(
    models: Sequence[Mapping[str, Any]], args: argparse.Namespace, judge: str | None
) -> Callable[[Sequence[Strategy], Sequence[Item], set[Any]], Estimate]:
    """The estimate of some pairs, priced as the gateway prices (its GET /v1/models)."""
    from orchestra.evaluation.estimate import estimate, pricing_from

    pricing = pricing_from(models)

    def cost(strategies: Sequence[Strategy], items: Sequence[Item], done: set[Any]) -> Estimate:
        return estimate(
            strategies,
            items,
            pricing,
            answer_tokens=args.answer_tokens,
            max_tokens=args.max_tokens,
            judge=judge,
            done=done,
        )

    return cost


def _judge(args: argparse.Namespace, models: list[dict[str, Any]], plan: Plan) -> str | None:
    """The judge model for judge-graded items: ``--judge``, else the best served model of
    another maker than every graded model (None when no item needs one)."""
    from orchestra.evaluation.judging import pick_judge

    if args.judge or all(item.kind != "judge" for item in plan.dataset.items):
        return str(args.judge) if args.judge else None
    graded = [m for s in plan.strategies for m in s.models]
    picked = pick_judge(models, graded)
    if picked is None:
        _error("no judge of another maker than the graded models is served: give --judge MODEL")
        raise Said
    print(f"judge: {picked} (another maker than the graded models)", file=sys.stderr)
    return picked


def eval_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = verbs.add_parser("eval", help="measure strategies' accuracy and cost on a dataset")
    run.add_argument("action", nargs="?", choices=("run", "report"), default="run")
    run.add_argument("--dataset", help="a JSONL file, or gsm8k (bundled)")
    run.add_argument("--strategy", action="append", help="MODEL, auto[:PROFILE], sample(...), ...")
    run.add_argument("--limit", type=int, default=None, help="the first N items (shuffled)")
    run.add_argument("--seed", type=int, default=0, help="the shuffle and the samples' seeds")
    run.add_argument("--concurrency", type=int, default=8, help="pairs asked at once")
    run.add_argument("--max-cost", type=float, default=None, help="USD this run may spend")
    run.add_argument("--yes", action="store_true", help="past --max-cost: run until the cap")
    run.add_argument("--base-url", default=None, help="a deployed gateway (default: in-process)")
    run.add_argument("--api-key", default=None, help="its key (default: ORCHESTRA_API_KEY)")
    run.add_argument("--out", default=None, help="results directory (default: eval/DATASET)")
    run.add_argument("--judge", default=None, help="judge model for judge-graded items")
    run.add_argument("--max-tokens", type=int, default=1024, help="per answer, at most")
    run.add_argument(
        "--answer-tokens", type=int, default=300, help="expected answer length (the estimate)"
    )
    run.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="sent by single models, panels and debates (default: each provider's own)",
    )
    run.add_argument(
        "--debate-timeout",
        type=float,
        default=900.0,
        help="seconds a debate (and any one call) may take",
    )
    run.add_argument("--fresh", action="store_true", help="discard the results in --out")
    run.set_defaults(func=cmd_eval)
