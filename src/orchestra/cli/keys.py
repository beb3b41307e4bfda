"""``orchestra keys create|update|show|list|revoke``: client keys and their policies.

Two ways in. Through a gateway's admin API (``--base-url``, ``--admin-key``): every action.
Directly on a deployed stack with boto3 (``--secret-id`` and, to create, ``--usage-plan-id``;
with ``--governance-table`` the key's policy is written too): ``create``, ``revoke`` and
``list``, which is how the first admin key is made (``orchestra keys create ops --admin
--secret-id ... --usage-plan-id ... --governance-table ...``).

:class:`~orchestra.storage.client_keys.ClientKeys` is re-exported here for its older
importers; it lives in storage since the admin function issues keys too.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from orchestra.cli.admin_args import (
    CliError,
    add_cache,
    add_gateway,
    add_limits,
    api_client,
    cache_of,
    emit,
    limits_of,
    run,
    table,
)
from orchestra.storage.client_keys import NAME_PREFIX, PREFIX, ClientKeys

__all__ = ["NAME_PREFIX", "PREFIX", "ClientKeys", "keys_parser"]

KEY_COLUMNS = ("KEY", "TEAM", "ADMIN", "DAY USD", "MONTH USD", "MAX USD", "RPM", "TPM")
_FIELDS = ("key_id", "team", "admin", "budget_day_usd", "budget_month_usd", "max_request_usd")


def key_rows(policies: list[dict[str, Any]]) -> str:
    rows = [[p.get(f) for f in (*_FIELDS, "rpm", "tpm")] for p in policies]
    return table(KEY_COLUMNS, rows) if rows else "(no keys)"


def _name(args: argparse.Namespace) -> str:
    name: str | None = args.name or args.name_option
    if not name:
        raise CliError(f"keys {args.action} needs a NAME")
    return name


def _policy_body(args: argparse.Namespace, *, clearing: bool) -> dict[str, Any]:
    """The policy fields the options give (``--team none`` clears the team)."""
    body = limits_of(args)
    if not clearing:
        body = {k: v for k, v in body.items() if v is not None}
    if args.team is not None:
        body["team"] = None if args.team.lower() == "none" else args.team
    if args.admin is not None:
        body["admin"] = args.admin
    pairs = [g.partition("=") for g in args.guardrail or []]
    if any(not sep for _, sep, _ in pairs):
        raise CliError("--guardrail takes CHECK=MODE (injection=block, redact_output=true)")
    guardrails = {check: mode for check, _, mode in pairs}
    if guardrails:
        body["guardrails"] = guardrails
    cache = cache_of(args)
    if not clearing:
        cache = {k: v for k, v in cache.items() if v is not None}
    if cache:  # an update names only these: the admin API keeps the key's other fields
        body["cache"] = cache
    return body


def _direct(args: argparse.Namespace) -> Any:
    """The policies of a deployed stack, by boto3 (``--governance-table``): a KeyAdmin."""
    import boto3

    from orchestra.compose.governance import dynamodb_policy_store
    from orchestra.governance.admin import KeyAdmin
    from orchestra.governance.issuer import AwsKeyIssuer

    session = boto3.session.Session(region_name=args.region)
    keys = ClientKeys(
        session.client("apigateway"), session.client("secretsmanager"), args.secret_id
    )
    store = dynamodb_policy_store(args.governance_table, session.client("dynamodb"))
    return KeyAdmin(store, AwsKeyIssuer(keys, args.usage_plan_id or ""))


def _client_keys(args: argparse.Namespace) -> ClientKeys:
    import boto3

    session = boto3.session.Session(region_name=args.region)
    return ClientKeys(
        session.client("apigateway"), session.client("secretsmanager"), args.secret_id
    )


def _shown_once(name: str, key: str) -> str:
    return f"key {name}: {key}\n(shown once: hand it over now)"


def cmd_create(args: argparse.Namespace) -> int:
    name, body = _name(args), _policy_body(args, clearing=False)
    client = api_client(args)
    if client is not None:
        created = client.create_key({"key_id": name, **body})
        emit(
            args, created, key_rows([created["policy"]]) + "\n" + _shown_once(name, created["key"])
        )
        return 0
    if not args.secret_id or not args.usage_plan_id:
        raise CliError("keys create needs --base-url, or --secret-id and --usage-plan-id")
    if args.governance_table:
        policy, key = asyncio.run(_direct(args).create_key({"key_id": name, **body}))
        print(key_rows([policy.model_dump(mode="json")]) + "\n" + _shown_once(name, key))
        return 0
    if body:
        raise CliError("a key's limits, team or role need --governance-table (or --base-url)")
    print(_shown_once(name, _client_keys(args).create(name, args.usage_plan_id)))
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    name, patch = _name(args), _policy_body(args, clearing=True)
    client = api_client(args)
    if client is None:
        raise CliError("keys update needs --base-url (the admin API)")
    if not patch:
        raise CliError(
            "nothing to update: give a limit, --team, --admin, --guardrail or a --cache-* option"
        )
    updated = client.update_key(name, patch)
    emit(args, updated, key_rows([updated]))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    client = api_client(args)
    if client is None:
        raise CliError("keys show needs --base-url (the admin API)")
    policy = client.get_key(_name(args))
    emit(args, policy, key_rows([policy]))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    client = api_client(args)
    if client is not None:
        policies = client.list_keys(args.team)
        emit(args, policies, key_rows(policies))
        return 0
    if not args.secret_id:
        raise CliError("keys list needs --base-url or --secret-id")
    print("\n".join(_client_keys(args).names()) or "(no clients)")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    name, client = _name(args), api_client(args)
    if client is not None:
        emit(args, client.revoke_key(name), f"key {name}: revoked")
        return 0
    if not args.secret_id:
        raise CliError("keys revoke needs --base-url or --secret-id")
    if args.governance_table:
        asyncio.run(_direct(args).revoke_key(name))
        print(f"key {name}: revoked")
        return 0
    deleted = _client_keys(args).revoke(name)
    print(f"client {name}: revoked" + ("" if deleted else " (API key already gone)"))
    return 0


def _options(parser: argparse.ArgumentParser, *, policy: bool) -> None:
    parser.add_argument("name", nargs="?", help="the key's name (its id)")
    parser.add_argument("--name", dest="name_option", help=argparse.SUPPRESS)
    add_gateway(parser)
    direct = parser.add_argument_group("directly on a deployed stack (boto3)")
    direct.add_argument("--secret-id", help="the ClientKeysSecretArn output")
    direct.add_argument("--usage-plan-id", "--usage-plan", help="a UsagePlan...Id output")
    direct.add_argument("--governance-table", help="the governance table (writes the policy)")
    direct.add_argument("--region", default=None)
    if policy:
        parser.add_argument("--team", help="the key's team ('none': no team)")
        parser.add_argument("--admin", action=argparse.BooleanOptionalAction, default=None)
        parser.add_argument(
            "--guardrail", action="append", metavar="CHECK=MODE", help="injection=block ..."
        )
        add_limits(parser)
        add_cache(parser)


def keys_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = verbs.add_parser("keys", help="client keys, their budgets and limits")
    actions = keys.add_subparsers(dest="action", required=True)
    commands = {
        "create": (cmd_create, True, "a new key (shown once) and its policy"),
        "update": (cmd_update, True, "change a key's policy ('none' clears a limit)"),
        "show": (cmd_show, False, "one key's policy"),
        "list": (cmd_list, False, "every key (--team: one team's)"),
        "revoke": (cmd_revoke, False, "revoke a key and delete its policy"),
    }
    for action, (command, policy, about) in commands.items():
        sub = actions.add_parser(action, help=about)
        _options(sub, policy=policy)
        if action == "list":
            sub.add_argument("--team", help="only this team's keys")
        sub.set_defaults(func=lambda a, c=command: run(lambda: c(a)))
