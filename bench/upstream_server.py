"""A fast fake OpenAI upstream for benchmarks: answers every POST with a recorded body.

Run as its own process (``python bench/upstream_server.py PORT BODY_FILE``) so its CPU
never competes with the gateway's event loop.
"""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web


def main() -> None:
    port, body_file = int(sys.argv[1]), Path(sys.argv[2])
    body = body_file.read_bytes()

    async def answer(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
