"""Orchestra's own request options: the body's typed ``orchestra`` object, and the same
options given as ``x-orchestra-*`` headers.

The body object is part of the chat request (``ChatRequest.orchestra``) and never goes
upstream. The headers work for every inbound format (chat completions, Anthropic
Messages, Responses, Gemini), whose bodies have no room for our fields: the routes' shared
preamble (``api/deps.py``) reads them once per request into :data:`header_options`, a
context variable the use case reads only when it needs them (a stream that broke), so a
request that never needs them pays one ``ContextVar.set``.
"""

from __future__ import annotations

from contextvars import ContextVar

from pydantic import BaseModel, ConfigDict

from orchestra.cache.records import CacheOptions

#: the header that turns mid-stream continuation off (``false``) or leaves it on (``true``)
CONTINUE_STREAMS_HEADER = "x-orchestra-continue-streams"
#: the answer cache's headers (docs/cache.md): opt in with a TTL (seconds), serve a stale
#: answer when every candidate fails, semantic lookups on or off; and HTTP's own
#: ``Cache-Control`` (``no-cache``, ``no-store``, ``max-age=N``)
CACHE_TTL_HEADER = "x-orchestra-cache-ttl"
CACHE_ALLOW_STALE_HEADER = "x-orchestra-cache-allow-stale"
CACHE_SEMANTIC_HEADER = "x-orchestra-cache-semantic"
CACHE_CONTROL_HEADER = "cache-control"


class OrchestraOptions(BaseModel):
    """``"orchestra": {...}`` in a request body. An unknown field is a 400 naming
    ``orchestra.<field>``, so a misspelt option is never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: ``false``: a stream that breaks after its first byte ends with an error event
    #: instead of continuing on the next candidate (None: the gateway's setting)
    continue_streams: bool | None = None
    #: the answer cache's controls for this request (docs/cache.md)
    cache: CacheOptions | None = None


#: the options the current request gave as headers (None: none given); set by the preamble
header_options: ContextVar[OrchestraOptions | None] = ContextVar(
    "orchestra_header_options", default=None
)


def flag(value: str) -> bool | None:
    """A boolean header's value (``true`` / ``false``, any case); None when it is neither."""
    lowered = value.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return None
