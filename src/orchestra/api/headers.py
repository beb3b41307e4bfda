"""The ``x-orchestra-*`` response headers, made at the edge from the use cases' results."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pydantic_core

from orchestra.governance.admission import current_admission

if TYPE_CHECKING:
    from orchestra.generate.results import Routed
    from orchestra.schemas.multi import MultiGenerateResponse


def routed_headers(result: Routed) -> dict[str, str]:
    """Who answered, every attempt, why this model, (when known) what it cost, and the
    hedge, when one started (``started;delay_ms=250;winner=<model>;loser=<model>``); with
    governance, the ``x-ratelimit-*`` counters and the guardrails that flagged the request.
    With the answer cache on, ``x-orchestra-cache`` and friends; an answer served from cache
    names the model that answered originally, costs 0 and has no attempts or route."""
    report = result.cache
    headers = {"x-orchestra-model": result.model.id, "x-orchestra-provider": result.model.provider}
    if report is not None and report.served:  # Routed.cost_usd is 0 for it
        headers["x-orchestra-cost-usd"] = f"{result.cost_usd:.8f}"
    else:
        headers["x-orchestra-attempts"] = ";".join(a.header_value() for a in result.attempts)
        headers["x-orchestra-route"] = _header_json(result.plan.explain(result.model.id))
        if result.usage is not None:
            headers["x-orchestra-cost-usd"] = f"{result.cost_usd:.8f}"
        if result.hedge.started:
            headers["x-orchestra-hedge"] = result.hedge.header_value()
    if report is not None:
        headers.update(report.headers())
    admission = current_admission.get()
    if admission is not None:
        headers.update(admission.headers())
    return headers


def _header_json(value: object) -> str:
    """Compact JSON, ASCII only (a header value is Latin-1): pydantic-core's encoder, the
    standard library's escaping for the rare non-ASCII id."""
    text = pydantic_core.to_json(value).decode()
    return text if text.isascii() else json.dumps(value, separators=(",", ":"))


def multi_headers(result: MultiGenerateResponse) -> dict[str, str]:
    """The strategy applied, the models asked, the total cost and the winner."""
    headers = {
        "x-orchestra-strategy": result.fusion.applied,
        "x-orchestra-models": ",".join(r.model for r in result.results if r.status != "skipped"),
        "x-orchestra-cost-usd": f"{result.cost_usd:.8f}",
    }
    if result.winner:
        headers["x-orchestra-winner"] = result.winner
    admission = current_admission.get()
    if admission is not None:
        headers.update(admission.headers())
    return headers
