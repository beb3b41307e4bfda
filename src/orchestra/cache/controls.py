"""What the cache does for one request: the gateway's settings, the key's policy and the
request's own controls (headers and body) resolved into a :class:`CachePlan`.

Precedence, field by field: the request (its body's explicitly set fields over its
headers'), then the key's policy (``KeyPolicy.cache``), then the gateway's settings
(``ORCHESTRA_CACHE_*``). The cache is off unless one of them gives a TTL: a request that
sends ``x-orchestra-cache-ttl`` (or ``orchestra.cache.ttl``) opts in even when the default
is off. A sampled answer (temperature unset or above 0) is a draw, not *the* answer: it is
cached only when the request asks (a TTL of its own) or the key or gateway says
``sampled``; otherwise the plan neither looks up nor stores (``x-orchestra-cache: bypass``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestra.cache.records import CacheOptions, CachePlan, CacheSettings
from orchestra.caller import current_principal

if TYPE_CHECKING:
    from orchestra.config import Settings
    from orchestra.governance.admission import Admission
    from orchestra.schemas.chat import ChatRequest
    from orchestra.schemas.options import OrchestraOptions

_NO_SETTINGS = CacheSettings()
_NO_OPTIONS = CacheOptions()


def merged_options(body: CacheOptions | None, header: CacheOptions | None) -> CacheOptions | None:
    """The request's controls: the headers', with every field the body sets over them."""
    if body is None or header is None:
        return body or header
    return header.model_copy(update={name: getattr(body, name) for name in body.model_fields_set})


def _first(*values: bool | None) -> bool:
    return next((v for v in values if v is not None), False)


class CacheControls:
    """Resolves each request's :class:`CachePlan` (see the module's doc)."""

    def __init__(self, settings: Settings) -> None:
        self.ttl_s = settings.cache_ttl_s
        self.namespace = settings.cache_namespace
        self.sampled = settings.cache_sampled
        self.allow_stale = settings.cache_allow_stale
        self.semantic = settings.cache_semantic
        self.threshold = settings.cache_semantic_threshold

    def plan(
        self,
        request: ChatRequest,
        admission: Admission | None,
        header_opts: OrchestraOptions | None,
    ) -> CachePlan | None:
        """The request's plan; None when the cache is off for it (no TTL from anyone):
        no header, nothing looked up or stored."""
        body = request.orchestra.cache if request.orchestra is not None else None
        header = header_opts.cache if header_opts is not None else None
        options = merged_options(body, header) or _NO_OPTIONS
        key = admission.key.cache if admission is not None and admission.key else _NO_SETTINGS
        ttl = options.ttl or (key.ttl_s if key.ttl_s is not None else self.ttl_s)
        if ttl <= 0:
            return None
        asked = options.ttl is not None
        sampled = request.temperature is None or request.temperature > 0
        chosen = asked or not sampled or _first(key.sampled, self.sampled)
        semantic = _first(key.semantic, self.semantic)
        if options.semantic is not None:  # the request narrows; it widens only unforbidden
            semantic = options.semantic and key.semantic is not False
        return CachePlan(
            lookup=chosen and not options.no_cache,
            store=chosen and not options.no_store,
            ttl_s=ttl,
            namespace=self.namespace_of(key, admission),
            allow_stale=_first(options.allow_stale, key.allow_stale, self.allow_stale),
            semantic=chosen and semantic,
            threshold=key.semantic_threshold or self.threshold,
            max_age=options.max_age,
        )

    def namespace_of(self, key: CacheSettings, admission: Admission | None) -> str:
        """``k:<key id>``; ``t:<team>`` when the namespace is the team's and the key has one;
        ``g`` when it is global."""
        namespace = key.namespace or self.namespace
        if namespace == "global":
            return "g"
        team = None
        if admission is not None:
            team = admission.team.team_id if admission.team is not None else None
            team = team or (admission.key.team if admission.key is not None else None)
        if namespace == "team" and team:
            return "t:" + team
        key_id = admission.key_id if admission is not None else current_principal().key_id
        return "k:" + key_id
