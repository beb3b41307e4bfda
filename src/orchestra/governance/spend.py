"""Spend reports: settled spend rows summed by key, team, model or day, over a period.

``GET /v1/spend`` and ``orchestra spend`` both read through :class:`SpendReport`. An admin
sees every key's spend (or one key's, asked by ``key``); any other key sees only its own,
whatever it asks for: the filter is forced to the caller's id, so another key's rows are
never read, let alone returned.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, get_args

from orchestra.errors import InvalidRequest
from orchestra.governance.protocols import SpendBackend, SpendRow
from orchestra.governance.records import Nanos, to_usd

GroupBy = Literal["key", "team", "model", "day"]
GROUPS: tuple[str, ...] = get_args(GroupBy)
#: the longest period one report reads (one Query per day: a bounded fan-out)
MAX_DAYS = 92


@dataclass(frozen=True)
class Period:
    """UTC days ``start`` to ``end``, inclusive (ISO ``YYYY-MM-DD``)."""

    start: str
    end: str


def _day(value: str, param: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(
            f"Invalid value for '{param}': expected a date as YYYY-MM-DD",
            param=param,
            code="invalid_value",
        ) from None


def period(day_from: str | None, day_to: str | None, *, today: date) -> Period:
    """The period a report covers. Defaults: ``to`` today (UTC), ``from`` the first day of
    ``to``'s month (so no argument at all means the current month to date). At most
    :data:`MAX_DAYS` days, and ``from`` not after ``to``; else a 400 naming the parameter."""
    end = _day(day_to, "to") if day_to is not None else today
    start = _day(day_from, "from") if day_from is not None else end.replace(day=1)
    if start > end:
        raise InvalidRequest("'from' is after 'to'", param="from")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidRequest(
            f"A spend report covers at most {MAX_DAYS} days: narrow 'from' and 'to'",
            param="from",
        )
    return Period(start.isoformat(), end.isoformat())


def group_by(value: str | None) -> GroupBy:
    """``group_by`` checked (default ``key``), a 400 naming the parameter otherwise."""
    if value is None:
        return "key"
    if value not in GROUPS:
        raise InvalidRequest(
            f"Invalid value for 'group_by': expected one of {', '.join(GROUPS)}",
            param="group_by",
            code="invalid_value",
        )
    return value  # type: ignore[return-value]  # checked just above


@dataclass
class SpendTotal:
    """The sum of the rows of one group (``group``: a key id, team id, model id or day;
    None for the rows of keys in no team)."""

    group: str | None
    cost_nanos: Nanos = 0
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    #: requests answered from the gateway's cache (cost 0), and what they would have cost
    cache_hits: int = 0
    saved_nanos: Nanos = 0

    def add(self, row: SpendRow) -> None:
        self.cost_nanos += row.cost_nanos
        self.requests += row.requests
        self.prompt_tokens += row.prompt_tokens
        self.completion_tokens += row.completion_tokens
        self.cached_tokens += row.cached_tokens
        self.cache_hits += row.cache_hits
        self.saved_nanos += row.saved_nanos

    def to_json(self) -> dict[str, Any]:
        """OpenAI-style list item; USD as a number and as exact nanos (sums to the cent)."""
        return {
            "object": "spend.group",
            "group": self.group,
            "cost_usd": float(to_usd(self.cost_nanos)),
            "cost_nanos": self.cost_nanos,
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_tokens": self.cached_tokens,
            "cache_hits": self.cache_hits,
            "saved_usd": float(to_usd(self.saved_nanos)),
            "saved_nanos": self.saved_nanos,
        }


_GROUP_OF: dict[str, Callable[[SpendRow], str | None]] = {
    "key": lambda row: row.key_id,
    "team": lambda row: row.team,
    "model": lambda row: row.model,
    "day": lambda row: row.day,
}


def totals(rows: Iterable[SpendRow], by: GroupBy) -> list[SpendTotal]:
    """Rows summed per group, most expensive first (ties: by group name)."""
    of = _GROUP_OF[by]
    found: dict[str | None, SpendTotal] = {}
    for row in rows:
        group = of(row)
        total = found.get(group)
        if total is None:
            total = found[group] = SpendTotal(group)
        total.add(row)
    if by == "day":
        return sorted(found.values(), key=lambda t: t.group or "")
    return sorted(found.values(), key=lambda t: (-t.cost_nanos, t.group or ""))


@dataclass(frozen=True)
class Report:
    by: GroupBy
    period: Period
    groups: list[SpendTotal]

    def to_json(self) -> dict[str, Any]:
        whole = SpendTotal(None)
        for group in self.groups:
            whole.cost_nanos += group.cost_nanos
            whole.requests += group.requests
            whole.cache_hits += group.cache_hits
            whole.saved_nanos += group.saved_nanos
        return {
            "object": "list",
            "group_by": self.by,
            "from": self.period.start,
            "to": self.period.end,
            "data": [group.to_json() for group in self.groups],
            "total_cost_usd": float(to_usd(whole.cost_nanos)),
            "total_cost_nanos": whole.cost_nanos,
            "total_requests": whole.requests,
            "total_cache_hits": whole.cache_hits,
            "total_saved_usd": float(to_usd(whole.saved_nanos)),
            "total_saved_nanos": whole.saved_nanos,
        }


class SpendReport:
    """Reads spend rows for a caller and sums them (``clock``: epoch seconds, for tests)."""

    def __init__(self, backend: SpendBackend, *, clock: Callable[[], float] = time.time) -> None:
        self.backend = backend
        self._clock = clock

    def today(self) -> date:
        return datetime.fromtimestamp(self._clock(), UTC).date()

    async def report(
        self,
        *,
        caller: str,
        admin: bool,
        by: str | None = None,
        day_from: str | None = None,
        day_to: str | None = None,
        key: str | None = None,
    ) -> Report:
        """``caller``'s report; ``key`` filters an admin's report to one key and is ignored
        for anyone else (they see only their own rows)."""
        grouping = group_by(by)
        span = period(day_from, day_to, today=self.today())
        only = (key or None) if admin else caller
        rows = await self.backend.query(span.start, span.end, only)
        return Report(grouping, span, totals(rows, grouping))
