"""The floor for ``bench/overhead.py``: the least a Python gateway on this stack can do.

One FastAPI route that forwards the request body through the same shared httpx-over-aiohttp
client Orchestra uses, served by uvicorn with the same options (uvloop, httptools, one
worker, no access log). Whatever Orchestra adds above this is its own cost.

Usage: ``python bench/floor_app.py PORT UPSTREAM_URL``.
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI, Request, Response

from orchestra.transport.http import HttpClients


def floor_app(upstream: str) -> FastAPI:
    app = FastAPI()
    clients = HttpClients()
    url = upstream.rstrip("/") + "/v1/chat/completions"
    headers = {"content-type": "application/json", "authorization": "Bearer floor"}

    @app.post("/v1/chat/completions")
    async def forward(request: Request) -> Response:
        answer = await clients.get().post(url, content=await request.body(), headers=headers)
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
        floor_app(upstream),
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        workers=1,
    )
