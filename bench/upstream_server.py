"""A fast fake OpenAI upstream for benchmarks: answers every POST with a recorded body.

Run as its own process (``python bench/upstream_server.py PORT BODY_FILE [SSE_FILE]``) so
its CPU never competes with the gateway's event loop. A model named ``...-d<ms>`` answers
after that many milliseconds (a known upstream latency); ``stream: true`` requests get the
recorded SSE stream when SSE_FILE is given.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

from aiohttp import web

DELAY = re.compile(r"-d(\d+)$")


def _delay_s(raw: bytes) -> tuple[float, bool]:
    try:
        body = json.loads(raw)
    except ValueError:
        return 0.0, False
    match = DELAY.search(str(body.get("model", "")))
    return (int(match[1]) / 1000.0 if match else 0.0), bool(body.get("stream"))


def main() -> None:
    port, body_file = int(sys.argv[1]), Path(sys.argv[2])
    body = body_file.read_bytes()
    sse = Path(sys.argv[3]).read_bytes() if len(sys.argv) > 3 else None

    async def answer(request: web.Request) -> web.StreamResponse:
        delay, stream = _delay_s(await request.read())
        if delay:
            await asyncio.sleep(delay)
        if stream and sse is not None:
            response = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await response.prepare(request)
            await response.write(sse)
            await response.write_eof()
            return response
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
