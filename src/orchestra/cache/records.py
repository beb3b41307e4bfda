"""What the cache is told and what it keeps.

- :class:`CacheSettings`: a key's defaults (``KeyPolicy.cache``); a field left None takes the
  gateway's setting (``ORCHESTRA_CACHE_*``).
- :class:`CacheOptions`: one request's controls, from the body (``"orchestra": {"cache":
  {...}}``) or the headers (``Cache-Control``, ``x-orchestra-cache-ttl``).
- :class:`CachePlan`: what the cache does for one request, resolved from both.
- :class:`CachedAnswer`: one stored answer.
- :class:`CacheReport`: what happened, for the response headers, metrics and spend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: what the cache did for a request (``x-orchestra-cache``)
CacheOutcome = Literal["hit", "miss", "stale", "bypass"]
#: whose answers a request may be served: its key's (default), its team's, everyone's
Namespace = Literal["key", "team", "global"]

#: the longest TTL a request or a key may ask for (30 days)
MAX_TTL_S = 30 * 86_400
#: the default similarity a semantic hit needs (cosine, unit vectors)
DEFAULT_THRESHOLD = 0.95


class CacheSettings(BaseModel):
    """A key's cache defaults; None: the gateway's setting."""

    model_config = ConfigDict(extra="forbid")

    #: seconds an answer stays fresh; 0: this key's answers are not cached by default
    ttl_s: int | None = Field(default=None, ge=0, le=MAX_TTL_S)
    namespace: Namespace | None = None
    #: cache answers sampled at a temperature above 0 (or unset: the vendor's default is
    #: usually 1) without the request asking
    sampled: bool | None = None
    #: semantic lookups (the last user message embedded) for this key
    semantic: bool | None = None
    semantic_threshold: float | None = Field(default=None, ge=0.5, le=1.0)
    #: serve a stale answer when every candidate failed, without the request asking
    allow_stale: bool | None = None


class CacheOptions(BaseModel):
    """``"orchestra": {"cache": {...}}`` in a body, or the same from the headers. An
    unknown field is a 400 naming ``orchestra.cache.<field>``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: opt in with this TTL, in seconds (``x-orchestra-cache-ttl``), even when the
    #: default is off; also asks for a sampled answer (temperature above 0) to be cached
    ttl: int | None = Field(default=None, ge=1, le=MAX_TTL_S)
    #: do not answer from cache (the fresh answer is still stored): ``Cache-Control: no-cache``
    no_cache: bool = False
    #: do not store this answer: ``Cache-Control: no-store``
    no_store: bool = False
    #: accept a cached answer only this many seconds old: ``Cache-Control: max-age=N``
    max_age: int | None = Field(default=None, ge=0)
    #: when every candidate fails, serve the last cached answer even past its TTL
    allow_stale: bool | None = None
    #: semantic lookup on (true) or off (false) for this request, within what the key allows
    semantic: bool | None = None


@dataclass(frozen=True, slots=True)
class CachePlan:
    """What the cache does for one request (``cache/controls.py`` resolves it)."""

    #: answer from cache when a fresh entry exists
    lookup: bool
    #: store the answer this request gets
    store: bool
    ttl_s: int
    #: the namespace's id in keys: ``k:<key id>``, ``t:<team id>`` or ``g``
    namespace: str
    allow_stale: bool = False
    semantic: bool = False
    threshold: float = DEFAULT_THRESHOLD
    max_age: int | None = None

    @property
    def active(self) -> bool:
        return self.lookup or self.store or self.allow_stale


@dataclass(slots=True)
class CachedAnswer:
    """One stored answer: the ``ChatResponse`` as JSON (already through the output
    policies: what the key was served), who answered, what it cost."""

    #: ``ChatResponse.model_dump_json(exclude_none=True)``
    response: bytes
    model: str
    provider: str
    cost_nanos: int
    #: epoch seconds
    created_at: float
    fresh_until: float
    #: the last user message (semantic entries: checked against a near match)
    question: str | None = None

    def age_s(self, now: float) -> float:
        return max(now - self.created_at, 0.0)

    def fresh(self, now: float, max_age: int | None = None) -> bool:
        if now >= self.fresh_until:
            return False
        return max_age is None or self.age_s(now) <= max_age

    def size(self) -> int:
        """Bytes it holds (the LRU's measure)."""
        return len(self.response) + len(self.question or "") + 200


@dataclass(slots=True)
class CacheReport:
    """What the cache did for a request: ``x-orchestra-cache`` and friends, metrics, spend."""

    outcome: CacheOutcome
    #: a hit's (or stale answer's) age, seconds
    age_s: float | None = None
    #: what the answer would have cost upstream (a hit or stale answer)
    saved_usd: float = 0.0
    #: ``exact`` or ``semantic`` (a hit)
    match: Literal["exact", "semantic"] | None = None
    similarity: float | None = None
    #: the model that answered originally (a hit)
    model: str | None = None

    @property
    def served(self) -> bool:
        return self.outcome in ("hit", "stale")

    def headers(self) -> dict[str, str]:
        headers: dict[str, str] = {"x-orchestra-cache": self.outcome}
        if self.age_s is not None:
            headers["x-orchestra-cache-age"] = str(int(self.age_s))
        if self.served:
            headers["x-orchestra-cache-saved-usd"] = f"{self.saved_usd:.8f}"
        if self.match is not None:
            headers["x-orchestra-cache-match"] = self.match
        if self.similarity is not None:
            headers["x-orchestra-cache-similarity"] = f"{self.similarity:.4f}"
        return headers
