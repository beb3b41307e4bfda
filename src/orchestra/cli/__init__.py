"""``orchestra serve | debate | models | sync | keys | teams | spend | eval``: the gateway on a
laptop, with embedded defaults, and the administration of a running one."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

BANNER = "\033[1;33m{}\033[0m"


def _warn(message: str) -> None:
    print(BANNER.format(message) if sys.stderr.isatty() else message, file=sys.stderr)


def _build_services(settings: Any, observer: Any = None, environ: Any = None) -> Any:
    """The services, or None after one line on stderr saying why they cannot be built
    (a refused base URL names the provider, the URL and the rule; no traceback)."""
    from orchestra.compose import build_services
    from orchestra.errors import OrchestraError

    try:
        return build_services(
            settings, os.environ if environ is None else environ, observer=observer
        )
    except OrchestraError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
    return None


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from orchestra.compose.heap import settle_heap
    from orchestra.config import get_settings

    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    served = serve_app(settings, os.environ)
    if served is None:
        return 2
    services, app, telemetry = served
    registry = services.registry
    if services.auth.open_access:
        _warn(
            "WARNING: no client API keys configured (ORCHESTRA_API_KEYS): this gateway accepts "
            "every request. Set ORCHESTRA_API_KEYS=key1,key2 to require a Bearer key."
        )
    if registry.simulated:
        _warn(
            "NOTE: no provider key or config found: answering with the LOCAL SIMULATOR "
            "(simulated models, not real LLMs). Set OPENAI_API_KEY, ANTHROPIC_API_KEY, "
            "GEMINI_API_KEY, OPENROUTER_API_KEY... or ORCHESTRA_CONFIG to use real providers."
        )
    print(f"Orchestra on http://{args.host}:{args.port}  providers: {sorted(registry.names())}")
    app = _served_app(app, args.access_log)
    settle_heap(settings.gc_tuning)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,  # uvicorn's own line has no latency, model or attempts
        workers=1,
    )
    telemetry.shutdown()  # the spans still batched are sent before the process ends
    return 0


def serve_app(settings: Any, environ: Any, *, span_exporter: Any = None) -> Any:
    """``(services, app, telemetry)`` as ``orchestra serve`` runs them (None: not
    buildable, said on stderr): ``/metrics`` when ``prometheus`` is on, spans when an OTLP
    endpoint is configured or ``span_exporter`` is given (tests)."""
    from orchestra.api.app import create_app
    from orchestra.observability import LogObserver
    from orchestra.telemetry.setup import build

    try:
        telemetry = build(settings, environ, span_exporter=span_exporter)
    except ImportError as exc:  # an extra not installed: say which, and how to do without
        print(
            f"error: {exc.name} is not installed: pip install 'orchestra[serve,otel]' "
            "(or set ORCHESTRA_PROMETHEUS=false / unset the OTLP endpoint)",
            file=sys.stderr,
        )
        return None
    services = _build_services(settings, telemetry.observer(LogObserver()), environ)
    if services is None:
        return None
    gateway = services.gateway  # its breakers are scraped; the catalog names providers
    telemetry.watch(gateway.breaker if gateway is not None else None, services.catalog)
    services.prometheus = telemetry.registry
    return services, telemetry.wrap(create_app(services)), telemetry


def _served_app(app: Any, access_log: bool) -> Any:
    """With ``--access-log``, one ``orchestra.access`` line per request, whatever the log level."""
    if not access_log:
        return app
    from orchestra.api.access_log import AccessLog

    logging.getLogger("orchestra.access").setLevel(logging.INFO)
    return AccessLog(app)


def cmd_models(args: argparse.Namespace) -> int:
    import asyncio

    from orchestra.config import get_settings

    services = _build_services(get_settings())
    if services is None:
        return 2
    gateway = services.gateway
    catalog = asyncio.run(gateway.catalog.current())
    ranked = gateway.router.rankings(catalog, args.profile)
    for i, candidate in enumerate(ranked, 1):
        print(f"{i:3d}. {candidate.model.id:45s} {json.dumps(candidate.breakdown)}")
    return 0


def _round_printer(store: Any, debate_id: str) -> Any:
    async def show(round_no: int, convergence: dict[str, Any]) -> None:
        debate = await store.load(debate_id)
        print(f"\n-- round {round_no}: agreement {convergence['agreement']:.0%}")
        for turn in debate.turns_of(round_no):
            stance = {True: " (changed)", False: " (kept)", None: ""}[turn.changed]
            text = (turn.answer or f"[dropped: {turn.error}]").strip().replace("\n", " ")
            print(f"   {turn.participant}{stance}: {text[:300]}")

    return show


def cmd_debate(args: argparse.Namespace) -> int:
    """One debate with the local runner (the state machine's steps), round by round."""
    import asyncio

    from pydantic import ValidationError

    from orchestra.api.errors import validation_error
    from orchestra.config import get_settings
    from orchestra.debate.runner import LocalRunner
    from orchestra.errors import OrchestraError
    from orchestra.schemas.debate import DebateRequest

    body = {
        "question": args.question,
        "participants": args.participants or args.count,
        "max_rounds": args.max_rounds,
        "threshold": args.threshold,
        "judge": args.judge,
    }
    services = _build_services(get_settings())
    if services is None:
        return 2

    async def run() -> int:
        try:
            request = DebateRequest.model_validate({k: v for k, v in body.items() if v is not None})
            debate, _ = await services.debates.create(request)
        except ValidationError as exc:
            print(f"error: {validation_error(list(exc.errors())).message}", file=sys.stderr)
            return 2
        except OrchestraError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 2
        print(f"debate {debate.id}: {', '.join(debate.participants)}; judge {debate.judge}")
        show = _round_printer(services.debates.store, debate.id)
        status = await LocalRunner(services.debate_steps).execute(debate.id, on_round=show)
        view = await services.debates.view(debate.id)
        await services.aclose()
        converged = "" if view.converged is None else f" (converged: {view.converged})"
        print(f"\n== {status}{converged}\n{view.final_answer or view.error or ''}")
        print(f"cost ${view.cost_usd:.6f}, {view.usage.total_tokens} tokens")
        return 0 if status == "SUCCEEDED" else 1

    return asyncio.run(run())


SYNC_SOURCES = ("openrouter", "lmarena", "huggingface")


def _read_payload(path: str) -> Any:
    """A recorded source payload: JSON, or text (a leaderboard CSV)."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        return json.loads(text)
    except ValueError:
        return text


def _print_report(summary: dict[str, Any]) -> None:
    print(
        f"{summary['source']}: {summary['records']} records, {summary['matched']} matched, "
        f"{summary['fields_changed']} fields changed ({summary['origin']})"
    )
    for change in summary["changes"]:
        print(f"   {change}")
    for reason, count in summary["skipped_reasons"].items():
        print(f"   skipped {count} x {reason}")
    if summary["unmatched"]:
        print(f"   not in the catalog: {', '.join(summary['unmatched'][:10])} ...")
    for profile, moved in summary["rankings"].items():
        print(f"   {profile} top {len(moved['after'])}: {moved['before']} -> {moved['after']}")


def cmd_sync(args: argparse.Namespace) -> int:
    """Sync the catalog sources into the bundled snapshot (or ``--snapshot PATH``)."""
    import asyncio
    from pathlib import Path

    from orchestra.catalog.models import catalog_from_records
    from orchestra.compose.sync import build_sync
    from orchestra.config import get_settings
    from orchestra.errors import SyncFailed
    from orchestra.sync import snapshot

    sources = args.source or list(SYNC_SOURCES)
    if args.from_file and len(sources) != 1:
        print("error: --from-file needs exactly one --source", file=sys.stderr)
        return 2
    try:
        payload = _read_payload(args.from_file) if args.from_file else None
    except OSError as exc:
        print(f"error: cannot read {args.from_file}: {exc.strerror}", file=sys.stderr)
        return 2
    path = Path(args.snapshot) if args.snapshot else snapshot.bundled_path()
    previous = snapshot.read_document(path)
    settings = get_settings().model_copy(update={"mode": "local"})
    base = catalog_from_records(previous["models"])
    service = build_sync(settings, os.environ, base=base)

    async def run() -> int:
        reports = []
        try:
            for source in sources:
                report = await service.run(source, payload, args.from_file)
                reports.append(report)
                summary = report.summary()
                if args.json:
                    print(json.dumps(summary))
                else:
                    _print_report(summary)
            catalog = await service.catalog.synced()
        except SyncFailed as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
        finally:
            await service.aclose()
        if not args.dry_run:
            snapshot.write_document(path, snapshot.snapshot_document(catalog, previous, reports))
            print(f"wrote {path}", file=sys.stderr)
        return 0

    return asyncio.run(run())


def _sync_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sync = verbs.add_parser("sync", help="refresh the catalog snapshot from its sources")
    sync.add_argument("--source", nargs="+", choices=SYNC_SOURCES, help="default: all")
    sync.add_argument("--from-file", help="a recorded payload of the one --source")
    sync.add_argument("--snapshot", help="the snapshot to update (default: the bundled one)")
    sync.add_argument("--dry-run", action="store_true", help="report, write nothing")
    sync.add_argument("--json", action="store_true", help="one JSON report per source")
    sync.set_defaults(func=cmd_sync)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orchestra", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)
    serve = verbs.add_parser("serve", help="run the OpenAI-compatible gateway locally")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="one line per request: method, path, status, latency, model, attempts",
    )
    serve.set_defaults(func=cmd_serve)
    from orchestra.cli.keys import keys_parser
    from orchestra.cli.teams import spend_parser, teams_parser

    keys_parser(verbs)
    teams_parser(verbs)
    spend_parser(verbs)
    _sync_parser(verbs)
    debate = verbs.add_parser("debate", help="run a debate locally, printing each round")
    debate.add_argument("question")
    debate.add_argument("--participants", nargs="+", help="model ids (default: --count picks)")
    debate.add_argument("--count", type=int, default=3, help="participants to pick")
    debate.add_argument("--max-rounds", type=int, default=3)
    debate.add_argument("--threshold", type=float, default=0.8)
    debate.add_argument("--judge", default=None)
    debate.set_defaults(func=cmd_debate)
    models = verbs.add_parser("models", help="list routable models ranked for a profile")
    models.add_argument("--profile", default="balanced")
    models.set_defaults(func=cmd_models)
    from orchestra.cli.chains import chain_parser

    chain_parser(verbs)
    from orchestra.cli.evaluate import eval_parser

    eval_parser(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code
