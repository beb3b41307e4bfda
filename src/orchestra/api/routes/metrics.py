"""``GET /metrics``: the gateway's Prometheus metrics in the text exposition format.

Ungated like ``/health`` (a Prometheus scraper carries no client key; the metrics hold
model names, counts and costs, never keys or prompts) and mounted only when the services
carry a registry (``orchestra serve`` with the ``prometheus`` setting on; never on Lambda).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from orchestra.api.deps import Services

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, services: Services) -> Response:
    """The format the scraper asks for (``Accept``): OpenMetrics, or the classic text
    format 0.0.4 that every Prometheus version reads (the default)."""
    from prometheus_client.exposition import choose_encoder

    registry = getattr(services, "prometheus", None)
    if registry is None:  # mounted without a registry: nothing to show, not an error page
        return Response(status_code=404)
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(registry), headers={"content-type": content_type})
