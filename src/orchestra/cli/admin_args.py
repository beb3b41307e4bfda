"""What ``orchestra keys | teams | spend`` share: how they reach the gateway, the limit
options, and the aligned tables they print.

Through the admin API of a running gateway: ``--base-url URL`` (or ``ORCHESTRA_BASE_URL``)
and ``--admin-key KEY`` (or ``ORCHESTRA_ADMIN_KEY``, better: it stays out of the shell's
history). ``orchestra keys create|revoke|list`` can also work on a deployed stack directly
(``--secret-id``), which is how the first admin key is made.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, get_args

from orchestra.cache.records import MAX_TTL_S, Namespace
from orchestra.cli.admin_client import AdminClient
from orchestra.errors import OrchestraError

#: ``--budget-day none`` (update): clear that limit
CLEAR = "none"

#: option, policy field, how its value is read
LIMITS: tuple[tuple[str, str, str], ...] = (
    ("--budget-day", "budget_day_usd", "USD per UTC day"),
    ("--budget-month", "budget_month_usd", "USD per UTC month"),
    ("--max-request", "max_request_usd", "USD at most per upstream call (worst case)"),
    ("--rpm", "rpm", "requests per minute"),
    ("--tpm", "tpm", "tokens per minute"),
)


class CliError(Exception):
    """A usage mistake the CLI reports in one line (exit 2)."""


def _usd(value: str) -> str:
    if value.lower() == CLEAR:
        return CLEAR
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an amount in USD: {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise argparse.ArgumentTypeError(f"not an amount in USD: {value!r}")
    return value


def _count(value: str) -> str:
    if value.lower() == CLEAR or (value.isdigit() and int(value) >= 0):
        return value.lower()
    raise argparse.ArgumentTypeError(f"not a whole number: {value!r}")


def add_limits(parser: argparse.ArgumentParser) -> None:
    for option, field, meaning in LIMITS:
        kind: Callable[[str], str] = _usd if field.endswith("_usd") else _count
        metavar = "USD" if field.endswith("_usd") else "N"
        parser.add_argument(
            option, type=kind, dest=field, metavar=metavar, help=f"{meaning} ('none': clears)"
        )


def limits_of(args: argparse.Namespace) -> dict[str, Any]:
    """The limit options given: numbers as JSON numbers, ``none`` as null (clears)."""
    found: dict[str, Any] = {}
    for _, field, _ in LIMITS:
        value = getattr(args, field, None)
        if value is None:
            continue
        if value == CLEAR:
            found[field] = None
        elif field.endswith("_usd"):
            found[field] = float(Decimal(value))
        else:
            found[field] = int(value)
    return found


def _ttl(value: str) -> str:
    if value.lower() == CLEAR or (value.isdigit() and int(value) <= MAX_TTL_S):
        return value.lower()
    raise argparse.ArgumentTypeError(f"not a TTL in seconds (0 to {MAX_TTL_S}): {value!r}")


def _threshold(value: str) -> str:
    if value.lower() == CLEAR:
        return CLEAR
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0.5 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"not a similarity from 0.5 to 1: {value!r}")
    return value


def add_cache(parser: argparse.ArgumentParser) -> None:
    """The key's cache defaults (``KeyPolicy.cache``, docs/cache.md); 'none' (or a flag
    left out on update) leaves a field to the gateway's setting."""
    group = parser.add_argument_group("answers from cache (the key's defaults)")
    group.add_argument(
        "--cache-ttl", type=_ttl, metavar="S", help="seconds an answer stays fresh (0: off)"
    )
    group.add_argument(
        "--cache-namespace",
        choices=(*get_args(Namespace), CLEAR),
        help="whose answers the key may be served: its own (key), its team's, everyone's",
    )
    for flag, meaning in (
        ("sampled", "cache answers sampled at a temperature above 0"),
        ("semantic", "semantic lookups (the last user message embedded)"),
        ("allow-stale", "serve a stale answer when every provider failed"),
    ):
        group.add_argument(
            f"--cache-{flag}", action=argparse.BooleanOptionalAction, default=None, help=meaning
        )
    group.add_argument(
        "--cache-threshold",
        type=_threshold,
        metavar="X",
        help="the cosine a semantic hit needs (0.5 to 1)",
    )


def cache_of(args: argparse.Namespace) -> dict[str, Any]:
    """The cache options given, as ``KeyPolicy.cache`` fields (``none``: null)."""
    found: dict[str, Any] = {}
    for option, field, kind in _CACHE_OPTIONS:
        value = getattr(args, option, None)
        if value is None:
            continue
        found[field] = None if value == CLEAR else kind(value)
    return found


#: ``add_cache``'s options: argparse's name, the CacheSettings field, how its value is read
_CACHE_OPTIONS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("cache_ttl", "ttl_s", int),
    ("cache_namespace", "namespace", str),
    ("cache_sampled", "sampled", bool),
    ("cache_semantic", "semantic", bool),
    ("cache_threshold", "semantic_threshold", float),
    ("cache_allow_stale", "allow_stale", bool),
)


def add_gateway(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", help="a gateway's URL (env ORCHESTRA_BASE_URL)")
    parser.add_argument(
        "--admin-key",
        help="an admin key of that gateway (env ORCHESTRA_ADMIN_KEY; spend: any key, for "
        "its own spend)",
    )
    parser.add_argument("--json", action="store_true", help="the API's JSON, unformatted")


#: tests hand the client a transport (an in-process app); None: the network
Transport = Any


def api_client(args: argparse.Namespace, transport: Transport = None) -> AdminClient | None:
    """The admin API client when a base URL is given; None otherwise (direct mode)."""
    base_url = args.base_url or os.environ.get("ORCHESTRA_BASE_URL")
    if not base_url:
        return None
    key = args.admin_key or os.environ.get("ORCHESTRA_ADMIN_KEY")
    if not key:
        raise CliError("--base-url needs --admin-key (or ORCHESTRA_ADMIN_KEY)")
    return AdminClient(base_url, key, transport=transport)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows under headers, columns aligned: text to the left, numbers to the right."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    numeric = [bool(rows) and all(_is_number(r[i]) for r in rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if numeric[i] else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(list(headers)), *(line(r) for r in cells)])


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.6f}".rstrip("0").rstrip(".") if value else "0"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def emit(args: argparse.Namespace, payload: Mapping[str, Any] | list[Any], text: str) -> None:
    """The API's JSON with ``--json``, else ``text``."""
    print(json.dumps(payload, indent=2) if getattr(args, "json", False) else text)


def run(command: Callable[[], int]) -> int:
    """``command``, with its failures as one line on stderr: 2 for the caller's mistakes
    (a 4xx, a usage error), 1 for the gateway's or AWS's."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return command()
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OrchestraError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2 if 400 <= exc.status < 500 else 1
    except (BotoCoreError, ClientError) as exc:  # AWS's message: ids and codes, no key
        print(f"error: {exc}", file=sys.stderr)
        return 1
