"""``orchestra chain run FILE [--input k=v ...] [--input-json k='[..]']``: one chain, run
locally with the local runner (the state machine's steps), each step printed as it ends."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from orchestra.schemas.chain import ChainStep


def _inputs(args: argparse.Namespace) -> dict[str, Any] | None:
    """``--input k=v`` (text) and ``--input-json k=<json>``; None after a usage error."""
    given: dict[str, Any] = {}
    for raw, as_json in [(i, False) for i in args.input or []] + [
        (i, True) for i in args.input_json or []
    ]:
        name, sep, value = raw.partition("=")
        if not sep or not name:
            print(f"error: --input takes name=value (got {raw!r})", file=sys.stderr)
            return None
        try:
            given[name] = json.loads(value) if as_json else value
        except ValueError:
            print(f"error: --input-json {name}: not JSON", file=sys.stderr)
            return None
    return given


def _line(step: ChainStep) -> str:
    """``steps[1] draft  up/m-a  812 ms  $0.000123  The first words…``"""
    text = step.output if isinstance(step.output, str) else json.dumps(step.output)
    if step.branch is not None:  # a condition: its output is its list's, shown below it
        text = f"-> {step.branch}" + (f" ({step.label})" if step.label else "")
    shown = (step.error or "") if step.status == "failed" else text or ""
    head = " ".join(shown.split())[:80]
    latency = f"{step.latency_ms:.0f} ms" if step.latency_ms is not None else "-"
    mark = "FAILED " if step.status == "failed" else ""
    return f"{step.path:<24} {step.id or '':<12} {step.model or '-':<24} {latency:>8}  ${step.cost_usd:.6f}  {mark}{head}"


def cmd_chain_run(args: argparse.Namespace) -> int:
    import asyncio

    from orchestra.chain.document import load_chain
    from orchestra.chain.runner import LocalRunner
    from orchestra.cli import _build_services
    from orchestra.config import get_settings
    from orchestra.errors import OrchestraError
    from orchestra.schemas.chain import InlineChainRunRequest

    inputs = _inputs(args)
    if inputs is None:
        return 2
    # the runner logs a failed run for servers; here the summary below says it once
    logging.getLogger("orchestra.chain").setLevel(logging.ERROR)
    try:
        with open(args.file, "rb") as handle:
            kind = "application/json" if args.file.endswith(".json") else "application/yaml"
            chain = load_chain(handle.read(), kind)
    except OSError as exc:
        print(f"error: {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    except OrchestraError as exc:
        print(f"error: {args.file}: {exc.message}", file=sys.stderr)
        return 2
    services = _build_services(get_settings())
    if services is None:
        return 2

    async def run() -> int:
        try:
            request = InlineChainRunRequest(chain=chain.document(), inputs=inputs)
            runner = LocalRunner(services.chain_steps)
            services.chains.starter = _Quiet()  # stored here, run below in the foreground
            started = await services.chains.start_inline(request)
        except OrchestraError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            await services.aclose()
            return 2

        async def show(step: ChainStep) -> None:
            print(_line(step), flush=True)

        print(f"chain run {started.header.id}")
        status = await runner.execute(started.header.id, on_step=show)
        view = await services.chains.view(started.header.id)
        await services.aclose()
        tokens = view.usage.total_tokens if view.usage else 0
        worst = f" (worst case ${view.estimate_usd:.6f})" if view.estimate_usd else ""
        print(f"\n== {status}  cost ${view.cost_usd:.6f}{worst}, {tokens} tokens")
        if view.error:
            print(f"error ({view.error_code}): {view.error}")
        for name, value in (view.outputs or {}).items():
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            print(f"-- {name}:\n{shown}")
        return 0 if status == "succeeded" else 1

    return asyncio.run(run())


class _Quiet:
    """A starter that starts nothing: the CLI runs the stored run itself, in the foreground."""

    idempotent = False

    async def start(self, run_id: str) -> str | None:
        return None

    async def status(self, execution_arn: str) -> tuple[str, str | None]:
        return "RUNNING", None

    async def aclose(self) -> None:
        return None


def chain_parser(verbs: Any) -> None:
    chain = verbs.add_parser("chain", help="chains: run one locally")
    actions = chain.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", help="run a chain file locally, printing each step")
    run.add_argument("file", help="the chain document (YAML, or JSON by .json)")
    run.add_argument("--input", action="append", metavar="NAME=TEXT", help="a text input")
    run.add_argument(
        "--input-json", action="append", metavar="NAME=JSON", help="an input given as JSON"
    )
    run.set_defaults(func=cmd_chain_run)
