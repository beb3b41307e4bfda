"""``orchestra eval --dataset FILE|gsm8k --strategy SPEC ...`` and ``orchestra eval report
--out DIR``: whether orchestration pays, measured through the gateway's own HTTP API.

Composition only: the gateway in-process (the services and the ASGI app, called over
``httpx.ASGITransport``; the simulator answers from the dataset when no provider is
configured) or a deployed one (``--base-url`` and a key); the estimate and the ``--max-cost``
refusal; the run (:mod:`orchestra.evaluation.runner`) with its progress bar on stderr; the
report. Exit codes: 0 done, 1 some pairs failed, 2 usage or dataset error, 3 refused or
stopped by ``--max-cost``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from orchestra.errors import GatewayCallFailed
    from orchestra.evaluation.client import GatewayClient
    from orchestra.evaluation.estimate import Estimate, Pricing
    from orchestra.evaluation.records import Dataset, Item, Result
    from orchestra.evaluation.runner import Progress
    from orchestra.evaluation.strategies import Strategy

EXIT_DONE, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3
#: in-process: any host will do, the transport never leaves the process
IN_PROCESS_URL = "http://orchestra.in-process"
SIMULATOR_NOTE = (
    "NOTE: the LOCAL SIMULATOR answers (no provider key or config found, or "
    "ORCHESTRA_SIMULATOR): simulator answering from the dataset's answers at each model's "
    "accuracy (ORCHESTRA_SIMULATOR_ACCURACY); the figures measure the harness, not real models"
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
    ):
        value = getattr(args, name)
        if value is not None and value < low:
            _error(f"--{name.replace('_', '-')} must be at least {low} (got {value})")
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


@asynccontextmanager
async def _gateway(args: argparse.Namespace, dataset: Dataset) -> AsyncIterator[tuple[Any, bool]]:
    """``(httpx.AsyncClient, simulated)``: a deployed gateway, or this one in-process."""
    import httpx

    if args.base_url:
        key = _key(args)
        headers = {"authorization": f"Bearer {key}"} if key else {}
        async with httpx.AsyncClient(
            base_url=args.base_url, headers=headers, timeout=600.0
        ) as http:
            yield http, False
        return
    services = _in_process_services(dataset)
    if services is None:
        raise _Said
    try:
        async with _asgi_client(services, _key(args)) as http:
            yield http, bool(services.registry.simulated)
    finally:
        await services.aclose()


def _key(args: argparse.Namespace) -> str | None:
    """``--api-key``, else ``ORCHESTRA_API_KEY``: the same for both ways of running."""
    return str(args.api_key or os.environ.get("ORCHESTRA_API_KEY") or "") or None


class _Said(Exception):
    """A usage error already said on stderr (exit 2): the services could not be built, no
    judge can be picked."""


def _in_process_services(dataset: Dataset) -> Any:
    """The gateway's services from the local settings; the simulator (used when no provider
    is configured, or ``ORCHESTRA_SIMULATOR``) answers from the dataset: its oracle."""
    from orchestra.cli import _build_services
    from orchestra.config import get_settings

    settings = get_settings().model_copy(update={"simulator_oracle": dataset.path})
    services = _build_services(settings)
    if services is not None and services.registry.simulated:
        print(SIMULATOR_NOTE, file=sys.stderr)
    return services


@asynccontextmanager
async def _asgi_client(services: Any, key: str | None) -> AsyncIterator[httpx.AsyncClient]:
    """The in-process gateway called with ``key``; none given, with its first configured key
    (ORCHESTRA_API_KEYS), so a local run needs no key of its own."""
    import httpx

    from orchestra.api.app import create_app

    keys = [k.strip() for k in (services.settings.api_keys or "").split(",") if k.strip()]
    key = key or (keys[0] if keys else None)
    headers = {"authorization": f"Bearer {key}"} if key else {}
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(
        transport=transport, base_url=IN_PROCESS_URL, headers=headers, timeout=600.0
    ) as http:
        yield http


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
    except _Said:
        return EXIT_USAGE
    except KeyboardInterrupt:  # every finished pair is on disk: the same command continues
        print(f"\ninterrupted: rerun the same command to continue ({plan.out})", file=sys.stderr)
        return 130


async def _run(args: argparse.Namespace, plan: Plan) -> int:
    from orchestra.errors import GatewayCallFailed
    from orchestra.evaluation.client import GatewayClient
    from orchestra.evaluation.records import Manifest
    from orchestra.evaluation.results import ResultsError, ResultsFile

    async with _gateway(args, plan.dataset) as (http, simulated):
        client = GatewayClient(http)
        try:  # the first call: an unreachable gateway or a refused key ends here, once
            models = await client.models()
        except GatewayCallFailed as exc:
            _error(_gateway_said(args, exc))
            return EXIT_USAGE
        manifest = Manifest(
            dataset=plan.source,
            fingerprint=plan.dataset.fingerprint,
            seed=args.seed,
            created_at=time.time(),
            base_url=args.base_url,
            simulated=simulated or (bool(args.base_url) and _simulator_only(models)),
        )
        if args.base_url and manifest.simulated:
            print(f"NOTE: {args.base_url} serves SIMULATED models only", file=sys.stderr)
        with ResultsFile(plan.out) as results:
            try:
                earlier = results.open(manifest, fresh=args.fresh)
            except ResultsError as exc:
                _error(str(exc))
                return EXIT_USAGE
            done = _resumed(plan, earlier)
            return await _measure(args, plan, client, results, done, models)


def _resumed(plan: Plan, earlier: Mapping[tuple[str, str], Result]) -> set[tuple[str, str]]:
    """The pairs of this command already answered for good in ``--out``; says so."""
    planned = {(s.spec, item.id) for s in plan.strategies for item in plan.dataset.items}
    done = {key for key, result in earlier.items() if result.final and key in planned}
    again = sum(1 for key, result in earlier.items() if not result.final and key in planned)
    if earlier:
        retried = f", {again} failed ones asked again" if again else ""
        print(
            f"resuming {plan.out}: {len(done)} pairs already answered of {len(planned)} "
            f"(not asked again{retried}); {len(planned) - len(done)} to ask",
            file=sys.stderr,
        )
    return done


def _simulator_only(models: Sequence[Mapping[str, Any]]) -> bool:
    """A deployed gateway answering with the simulator only (every model it lists is the
    simulator's): its figures measure the harness, and the report says so."""
    owners = {m.get("owned_by") for m in models if not str(m.get("id", "")).startswith("auto")}
    return owners == {"simulator"}


def _gateway_said(args: argparse.Namespace, exc: GatewayCallFailed) -> str:
    """One line for a gateway that cannot be used at all: down, or the key refused."""
    where = f"the gateway at {args.base_url}" if args.base_url else "the in-process gateway"
    said = f"{exc.status} {exc.code}: {exc.message}"
    if exc.status == 0:
        return f"cannot reach {where} ({exc.message}): is it running, and the URL right?"
    if exc.status == 401:
        return f"{where} refused the key ({said}): give its key with --api-key or ORCHESTRA_API_KEY"
    if exc.status == 403:
        return f"{where} refused the call with this key ({said}): use a key allowed to make it"
    return f"{where} failed ({said})"


async def _measure(
    args: argparse.Namespace,
    plan: Plan,
    client: GatewayClient,
    results: Any,
    done: set[Any],
    models: list[dict[str, Any]],
) -> int:
    """Estimate, confirm, run, report: the exit code."""
    from orchestra.cli.eval_report import write_report
    from orchestra.evaluation.estimate import pricing_from
    from orchestra.evaluation.execute import Executor
    from orchestra.evaluation.grading import Grader
    from orchestra.evaluation.runner import STOPPED_MAX_COST, EvalRun

    judge = _judge(args, models, plan)
    cost = _coster(pricing_from(models), args, judge)
    if not _confirmed(args, cost(plan.strategies, plan.dataset.items, done)):
        return EXIT_REFUSED
    bar = ProgressBar(sys.stderr)
    run = EvalRun(
        Executor(client, max_tokens=args.max_tokens, seed=args.seed),
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
        _error(_gateway_said(args, client.refused) + " (the pairs it refused are asked on rerun)")
        return EXIT_USAGE
    written = write_report(plan.out, plan.dataset, [s.spec for s in plan.strategies])
    print(f"report: {written[0] if written else plan.out}", file=sys.stderr)
    if report.stopped == STOPPED_MAX_COST:
        print(f"stopped: --max-cost ${args.max_cost:g} reached; rerun to continue", file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_FAILED if report.progress.errors else EXIT_DONE


def _coster(
    pricing: Pricing, args: argparse.Namespace, judge: str | None
) -> Callable[[Sequence[Strategy], Sequence[Item], set[Any]], Estimate]:
    from orchestra.evaluation.estimate import estimate

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
    from orchestra.evaluation.grading import pick_judge

    if args.judge or all(item.kind != "judge" for item in plan.dataset.items):
        return str(args.judge) if args.judge else None
    graded = [m for s in plan.strategies for m in s.models]
    picked = pick_judge(models, graded)
    if picked is None:
        _error("no judge of another maker than the graded models is served: give --judge MODEL")
        raise _Said
    print(f"judge: {picked} (another maker than the graded models)", file=sys.stderr)
    return picked


def _confirmed(args: argparse.Namespace, estimate: Estimate) -> bool:
    """Print the estimate and what it assumed. Past ``--max-cost`` or with models it could
    not price (the cap cannot hold on them), go on only with ``--yes`` or a "y" typed at a
    terminal (the run then stops at the cap)."""
    print(
        f"estimate: ${estimate.total_usd:.4f} expected, ${estimate.worst_usd:.4f} at most "
        f"({estimate.calls} calls for {estimate.pairs} pairs)\n  assumed: "
        f"{args.answer_tokens} completion tokens per answer (--answer-tokens), "
        f"{args.max_tokens} at most (--max-tokens); prompts counted from their text; "
        "prices from the gateway's GET /v1/models",
        file=sys.stderr,
    )
    if estimate.unpriced:
        names = ", ".join(estimate.unpriced)
        print(f"  no price for {names}: counted free (the gateway lists no price)", file=sys.stderr)
    if args.max_cost is None:
        return True
    if estimate.unpriced:
        return _dare(
            args,
            f"--max-cost cannot hold on models without a price ({names})",
            "their calls count as free",
        )
    if estimate.total_usd <= args.max_cost:
        return True
    over = f"the estimate ${estimate.total_usd:.4f} exceeds --max-cost ${args.max_cost:g}"
    return _dare(args, over, "the run stops at the cap")


def _dare(args: argparse.Namespace, over: str, then: str) -> bool:
    """Go on past a reason to stop (``then``: what happens if so): with ``--yes``, or a "y"
    typed at a terminal."""
    if args.yes:
        print(f"{over}: running anyway, {then} (--yes)", file=sys.stderr)
        return True
    if sys.stdin.isatty():
        answer = input(f"{over}: run anyway ({then})? [y/N] ")
        return answer.strip().lower() in ("y", "yes")
    print(f"refused: {over} (--yes to run anyway: {then})", file=sys.stderr)
    return False


class ProgressBar:
    """On a terminal, one line rewritten in place; elsewhere (CI logs) a line per 10%."""

    def __init__(self, stream: IO[str], *, tty: bool | None = None) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.shown = -1

    def __call__(self, progress: Progress) -> None:
        if self.tty:
            self.stream.write("\r" + progress_line(progress))
            self.stream.flush()
            return
        tenth = progress.done * 10 // max(progress.total, 1)
        if tenth > self.shown:
            self.shown = tenth
            print(progress_line(progress), file=self.stream)

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def progress_line(progress: Progress) -> str:
    """``[######----] 150/250 pairs  accuracy 81.3%  spent $0.0123  errors 2``"""
    filled = progress.done * 20 // max(progress.total, 1)
    accuracy = "-" if progress.accuracy is None else f"{progress.accuracy:.1%}"
    errors = f"  errors {progress.errors}" if progress.errors else ""
    return (
        f"[{'#' * filled}{'-' * (20 - filled)}] {progress.done}/{progress.total} pairs  "
        f"accuracy {accuracy}  spent ${progress.spent:.4f}{errors}"
    )


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
    run.add_argument("--fresh", action="store_true", help="discard the results in --out")
    run.set_defaults(func=cmd_eval)
