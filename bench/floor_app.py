"""The floor for ``bench/overhead.py``: the least a Python gateway on this stack can do.

One FastAPI route that forwards the request body through the same shared httpx-over-aiohttp
client Orchestra uses, served by uvicorn with the same options (uvloop, httptools, one
worker, no access log). Whatever Orchestra adds above this is its own cost.

Two floors: ``post`` forwards with ``AsyncClient.post`` (the obvious minimal route);
``direct`` builds the request once-parsed and sends it straight to the transport, as
Orchestra's providers do (:meth:`~orchestra.transport.http.HttpClients.send`), so the
comparison with it is Orchestra's own logic alone.

Usage: ``python bench/floor_app.py PORT UPSTREAM_URL [post|direct]``.
"""

from __future__ import annotations

import sys

import httpx
import uvicorn
from fastapi import FastAPI, Request, Response

from orchestra.transport.http import HttpClients, post_request


def floor_app(upstream: str, mode: str = "post") -> FastAPI:
    app = FastAPI()
    clients = HttpClients()
    url = upstream.rstrip("/") + "/v1/chat/completions"
    headers = {"content-type": "application/json", "authorization": "Bearer floor"}
    parsed, timeout = httpx.URL(url), httpx.Timeout(60.0, connect=5.0)

    @app.post("/v1/chat/completions")
    async def forward(request: Request) -> Response:
        body = await request.body()
        if mode == "direct":
            request_out = post_request(parsed, httpx.Headers(headers), body, timeout)
            answer = await clients.send(request_out)
        else:
            answer = await clients.get().post(url, content=body, headers=headers)
        return Response(
            answer.content, status_code=answer.status_code, media_type="application/json"
        )

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


if __name__ == "__main__":
    port, upstream = int(sys.argv[1]), sys.argv[2]
    uvicorn.run(
        floor_app(upstream, sys.argv[3] if len(sys.argv) > 3 else "post"),
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        workers=1,
    )
