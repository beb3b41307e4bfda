"""``orchestra teams create|update|show|list`` and ``orchestra spend``, through a gateway's
admin API (``--base-url``, ``--admin-key``; see :mod:`orchestra.cli.admin_args`)."""

from __future__ import annotations

import argparse
from typing import Any

from orchestra.cli.admin_args import (
    CliError,
    add_gateway,
    add_limits,
    api_client,
    emit,
    limits_of,
    run,
    table,
)
from orchestra.cli.admin_client import AdminClient

TEAM_COLUMNS = ("TEAM", "DAY USD", "MONTH USD", "MAX USD", "RPM", "TPM")
_FIELDS = ("team_id", "budget_day_usd", "budget_month_usd", "max_request_usd", "rpm", "tpm")
SPEND_COLUMNS = (
    "COST USD",
    "REQUESTS",
    "PROMPT",
    "COMPLETION",
    "CACHED",
    # answers from the gateway's cache, and what they would have cost upstream
    "HITS",
    "SAVED USD",
)


def team_rows(teams: list[dict[str, Any]]) -> str:
    rows = [[t.get(f) for f in _FIELDS] for t in teams]
    return table(TEAM_COLUMNS, rows) if rows else "(no teams)"


def _client(args: argparse.Namespace) -> AdminClient:
    client = api_client(args)
    if client is None:
        raise CliError(f"{args.verb} needs --base-url (the admin API) and an admin key")
    return client


def cmd_team(args: argparse.Namespace) -> int:
    """create: the limits given (the rest none); update: the limits given change, 'none'
    clears; show and list print."""
    client = _client(args)
    if args.action == "list":
        teams = client.list_teams()
        emit(args, teams, team_rows(teams))
        return 0
    if not args.name:
        raise CliError(f"teams {args.action} needs a NAME")
    if args.action == "show":
        team = client.get_team(args.name)
    elif args.action == "create":
        limits = {k: v for k, v in limits_of(args).items() if v is not None}
        team = client.put_team(args.name, limits)
    else:
        current = client.get_team(args.name)
        kept = {k: current.get(k) for k in _FIELDS[1:] if current.get(k) is not None}
        team = client.put_team(args.name, {**kept, **limits_of(args)})
    emit(args, team, team_rows([team]))
    return 0


def cmd_spend(args: argparse.Namespace) -> int:
    params = {"group_by": args.group_by}
    params.update({k: v for k, v in (("from", args.day_from), ("to", args.day_to)) if v})
    if args.key:
        params["key"] = args.key
    report = _client(args).spend(params)
    rows = [
        [
            g["group"],
            g["cost_usd"],
            g["requests"],
            g["prompt_tokens"],
            g["completion_tokens"],
            g["cached_tokens"],
            g.get("cache_hits", 0),  # a gateway from before the cache: none
            g.get("saved_usd", 0.0),
        ]
        for g in report["data"]
    ]
    total = [report["total_cost_usd"], report["total_requests"], None, None, None]
    total += [report.get("total_cache_hits", 0), report.get("total_saved_usd", 0.0)]
    rows.append(["TOTAL", *total])
    heading = f"spend by {report['group_by']}, {report['from']} to {report['to']} (UTC)"
    text = table((report["group_by"].upper(), *SPEND_COLUMNS), rows)
    emit(args, report, f"{heading}\n{text}")
    return 0


def teams_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    teams = verbs.add_parser("teams", help="teams and their shared budgets and limits")
    actions = teams.add_subparsers(dest="action", required=True)
    for action, about in (
        ("create", "create or replace a team with these limits"),
        ("update", "change some of a team's limits ('none' clears one)"),
        ("show", "one team"),
        ("list", "every team"),
    ):
        sub = actions.add_parser(action, help=about)
        if action != "list":
            sub.add_argument("name", help="the team's id")
        add_gateway(sub)
        if action in ("create", "update"):
            add_limits(sub)
        sub.set_defaults(func=lambda a: run(lambda: cmd_team(a)))


def spend_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    spend = verbs.add_parser("spend", help="settled spend as a table (the admin API's /v1/spend)")
    spend.add_argument("--group-by", choices=("key", "team", "model", "day"), default="key")
    spend.add_argument("--from", dest="day_from", metavar="YYYY-MM-DD", help="default: the 1st")
    spend.add_argument("--to", dest="day_to", metavar="YYYY-MM-DD", help="default: today (UTC)")
    spend.add_argument("--key", help="one key's spend (an admin's report)")
    add_gateway(spend)
    spend.set_defaults(func=lambda a: run(lambda: cmd_spend(a)))
