"""The ``x-orchestra-*`` response headers, made at the edge from the use cases' results."""

from __future__ import annotations

import json

from orchestra.generate.service import Routed
from orchestra.schemas.multi import MultiGenerateResponse


def routed_headers(result: Routed) -> dict[str, str]:
    """Who answered, every attempt, why this model, and (when known) what it cost."""
    headers = {
        "x-orchestra-model": result.model.id,
        "x-orchestra-provider": result.model.provider,
        "x-orchestra-attempts": ";".join(a.header_value() for a in result.attempts),
        "x-orchestra-route": json.dumps(
            result.plan.explain(result.model.id), separators=(",", ":"), ensure_ascii=True
        ),
    }
    if result.usage is not None:
        headers["x-orchestra-cost-usd"] = f"{result.cost_usd:.8f}"
    return headers


def multi_headers(result: MultiGenerateResponse) -> dict[str, str]:
    """The strategy applied, the models asked, the total cost and the winner."""
    headers = {
        "x-orchestra-strategy": result.fusion.applied,
        "x-orchestra-models": ",".join(r.model for r in result.results if r.status != "skipped"),
        "x-orchestra-cost-usd": f"{result.cost_usd:.8f}",
    }
    if result.winner:
        headers["x-orchestra-winner"] = result.winner
    return headers
