"""The answer cache as one policy of the request pipeline (docs/cache.md).

The generate use case asks :class:`AnswerCache` around each request:

1. :meth:`~AnswerCache.begin` (no I/O): the request's plan (``cache/controls.py``) and key,
   or None when the cache is off for it, which is all an uncached request costs;
2. :meth:`~AnswerCache.find`: the LRU, then the second level (one read), then, when the
   plan is semantic, the nearest earlier question of the same scope; a fresh entry is the
   answer (no planning, no upstream call, no budget held);
3. on a miss, :meth:`~AnswerCache.keep` with the answer as the key was served: in the LRU
   now, in the second level and the vector store after the response;
4. when every candidate failed, :meth:`~AnswerCache.stale`: the same key's entry past its
   freshness, if the plan allows stale answers;
5. :meth:`~AnswerCache.served` for a hit or a stale answer: the spend row (cost 0, the
   original cost saved) and the observer's count.

The cache is an optimisation: a failing store, vector store or embedding is a miss,
logged by the exception's type, never the client's error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from orchestra.cache.controls import CacheControls
from orchestra.cache.keys import answer_key, last_user_text, scope_key
from orchestra.cache.records import CachedAnswer, CachePlan, CacheReport
from orchestra.cache.tiers import AnswerTiers
from orchestra.caller import current_principal
from orchestra.governance.admission import current_admission
from orchestra.governance.deferred import defer
from orchestra.governance.protocols import SpendRow
from orchestra.schemas.options import header_options

if TYPE_CHECKING:
    from orchestra.cache.protocols import VectorMatch
    from orchestra.governance.admission import Admission
    from orchestra.governance.protocols import SpendBackend
    from orchestra.schemas.chat import ChatRequest, ChatResponse

log = logging.getLogger("orchestra.cache")

#: deferred writes with no request to defer them to, referenced until done
_BACKGROUND: set[asyncio.Future[Any]] = set()


class ProbeLike(Protocol):
    @property
    def vector(self) -> list[float] | None: ...

    @property
    def matches(self) -> list[VectorMatch]: ...


class SemanticLike(Protocol):
    """``cache/semantic.SemanticIndex`` (docs/cache.md): never raises."""

    async def probe(self, scope: str, question: str, threshold: float) -> ProbeLike: ...

    def same_subject(self, question: str, cached_question: str | None) -> bool: ...

    async def remember(
        self, scope: str, key: str, vector: list[float], expires_at: int
    ) -> None: ...


@dataclass(slots=True)
class Lookup:
    """One request's dealings with the cache: its plan, key, and what happened."""

    plan: CachePlan
    key: str
    request: ChatRequest
    key_id: str
    team: str | None
    report: CacheReport
    #: the semantic scope and the question's vector (set by a semantic lookup)
    scope: str | None = None
    vector: list[float] | None = None
    #: the key is metered (budgets or limits): its calls write spend rows, so its hits do
    metered: bool = False
    #: the observer was told the outcome (once per request: a miss that ends stale is stale)
    counted: bool = False


def _later(work: Coroutine[Any, Any, None]) -> None:
    """``work`` after the response (the request's deferred work), else in the background."""
    if defer(work) is None:
        task = asyncio.ensure_future(work)
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)


def storable(response: ChatResponse) -> bool:
    """An answer worth serving again: not filtered, not empty."""
    for choice in response.choices:
        if choice.finish_reason == "content_filter":
            return False
        if not choice.message.content and not choice.message.tool_calls:
            return False
    return bool(response.choices)


class AnswerCache:
    """See the module's doc. ``semantic``: a ``SemanticIndex`` (None: exact only)."""

    def __init__(
        self,
        tiers: AnswerTiers,
        controls: CacheControls,
        *,
        semantic: SemanticLike | None = None,
        observer: object | None = None,
        spend: SpendBackend | None = None,
        max_entry_bytes: int = 256 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tiers = tiers
        self.controls = controls
        self.semantic = semantic
        self.observer = observer
        self.spend = spend
        self.max_entry_bytes = max_entry_bytes
        self.clock = clock
        self._day = (-1, "")

    def begin(self, request: ChatRequest) -> Lookup | None:
        """The request's plan and key (no I/O); None: the cache is off for it."""
        admission = current_admission.get()
        plan = self.controls.plan(request, admission, header_options.get())
        if plan is None:
            return None
        key_id, team = _who(admission)
        outcome = "miss" if plan.lookup else "bypass"
        report = CacheReport(outcome)  # type: ignore[arg-type]
        key = answer_key(request, plan.namespace)
        metered = admission is not None and bool(admission.scopes)
        return Lookup(plan, key, request, key_id, team, report, metered=metered)

    async def find(self, lookup: Lookup) -> CachedAnswer | None:
        """A fresh answer for the request (its report says how it matched); None: a miss."""
        plan = lookup.plan
        if not plan.lookup:
            self._settled(lookup)
            return None
        now = self.clock()
        entry = self.tiers.local(lookup.key)
        if entry is None or not entry.fresh(now, plan.max_age):
            entry = await self.tiers.get(lookup.key, past=entry)
        if entry is not None and entry.fresh(now, plan.max_age):
            self._hit(lookup, entry, now, "exact")
            return entry
        if plan.semantic and self.semantic is not None:
            found = await self._near(lookup, now)
            if found is not None:
                return found
        self._settled(lookup)
        return None

    def _settled(self, lookup: Lookup) -> None:
        """A miss or bypass counted now, unless the request may still end stale (then it
        is counted once it is known: :meth:`missed`, :meth:`stale`)."""
        if not lookup.plan.allow_stale:
            self._once(lookup)

    def missed(self, lookup: Lookup) -> None:
        """The request was answered upstream: its miss (or bypass) counted, once."""
        self._once(lookup)

    def _once(self, lookup: Lookup) -> None:
        if not lookup.counted:
            lookup.counted = True
            self._count(lookup.report)

    async def _near(self, lookup: Lookup, now: float) -> CachedAnswer | None:
        """The nearest earlier question's answer, fresh and about the same subject."""
        assert self.semantic is not None
        question = last_user_text(lookup.request)
        if question is None:
            return None
        try:
            lookup.scope = scope = scope_key(lookup.request, lookup.plan.namespace)
            probe = await self.semantic.probe(scope, question, lookup.plan.threshold)
            lookup.vector = probe.vector
            for match in probe.matches:
                entry = await self.tiers.get(match.key)
                if entry is None or not entry.fresh(now, lookup.plan.max_age):
                    continue
                if self.semantic.same_subject(question, entry.question):
                    self._hit(lookup, entry, now, "semantic", match.similarity)
                    return entry
        except Exception as exc:  # the cache is an optimisation: never an outage
            log.warning("semantic lookup failed: %s", type(exc).__name__)
        return None

    def _hit(
        self,
        lookup: Lookup,
        entry: CachedAnswer,
        now: float,
        match: str,
        similarity: float | None = None,
    ) -> None:
        _mark(lookup.report, entry, now, match, similarity)

    def repeat(self, key: str, answer: CachedAnswer, max_age: int | None) -> CacheReport | None:
        """A repeat of an exact hit (``api/fast_hits.py``): its report when ``answer`` is
        still the LRU's entry under ``key`` (the very object: a refreshed or evicted entry
        is not) and still fresh; None: the request goes the normal way."""
        if self.tiers.local(key) is not answer:
            return None
        now = self.clock()
        if not answer.fresh(now, max_age):
            return None
        report = CacheReport("hit")
        _mark(report, answer, now, "exact")
        return report

    def keep(
        self,
        lookup: Lookup,
        response: ChatResponse,
        model_id: str,
        provider: str,
        cost_usd: float,
    ) -> None:
        """Store the answer the request was served: the LRU now, the second level and the
        question's vector after the response. Not stored: a plan that does not store, a
        filtered or empty answer, one larger than ``max_entry_bytes``."""
        if not lookup.plan.store or not storable(response):
            return
        body = response.model_dump_json(exclude_none=True).encode()
        if len(body) > self.max_entry_bytes:
            return
        now = self.clock()
        entry = CachedAnswer(
            response=body,
            model=model_id,
            provider=provider,
            cost_nanos=round(cost_usd * 1e9),
            created_at=now,
            fresh_until=now + lookup.plan.ttl_s,
            question=last_user_text(lookup.request) if lookup.plan.semantic else None,
        )
        self.tiers.lru.put(lookup.key, entry)
        if self.tiers.shared is not None or lookup.vector is not None:
            _later(self._share(lookup, entry))

    async def _share(self, lookup: Lookup, entry: CachedAnswer) -> None:
        shared = self.tiers.shared
        if shared is not None:
            try:
                await shared.put(lookup.key, entry, int(entry.fresh_until) + self.tiers.keep_s)
            except Exception as exc:
                log.warning("cache write failed: %s", type(exc).__name__)
        if self.semantic is not None and lookup.vector is not None and lookup.scope:
            expires = int(entry.fresh_until)
            await self.semantic.remember(lookup.scope, lookup.key, lookup.vector, expires)

    async def stale(self, lookup: Lookup) -> CachedAnswer | None:
        """The key's entry however old, when the plan allows stale answers; None: none."""
        if not lookup.plan.allow_stale:
            return None
        entry = await self.tiers.get(lookup.key)
        if entry is None:
            self._once(lookup)
            return None
        report = lookup.report
        report.outcome, report.match, report.model = "stale", "exact", entry.model
        report.age_s, report.saved_usd = entry.age_s(self.clock()), entry.cost_nanos / 1e9
        return entry

    def served(self, lookup: Lookup, answer: CachedAnswer) -> None:
        """A hit or stale answer accounted: counted, and a spend row (cost 0, the original
        cost saved) written after the response."""
        lookup.counted = True
        self.account(lookup.report, lookup.key_id, lookup.team, answer, metered=lookup.metered)

    def account(
        self,
        report: CacheReport,
        key_id: str,
        team: str | None,
        answer: CachedAnswer,
        *,
        metered: bool,
    ) -> None:
        """What :meth:`served` does, for the normal path and the fast path's repeats
        alike (``api/fast_hits.py``): the observer's count; the spend row deferred, for a
        metered key (one with budgets or limits: only those keys' calls write spend rows,
        so a hit's row sits beside them; every key's hits are in the metrics)."""
        self._count(report)
        if self.spend is not None and metered:
            _later(self._spent(key_id, team, answer))

    async def _spent(self, key_id: str, team: str | None, answer: CachedAnswer) -> None:
        assert self.spend is not None
        row = SpendRow(
            day=self.day(),
            key_id=key_id,
            team=team,
            model=answer.model,
            cost_nanos=0,
            requests=1,
            prompt_tokens=0,
            completion_tokens=0,
            cache_hits=1,
            saved_nanos=answer.cost_nanos,
        )
        try:
            await self.spend.add(row)
        except Exception as exc:
            log.error("a spend row was not written: %s", type(exc).__name__)

    def day(self) -> str:
        """Today (UTC) as ``YYYY-MM-DD``, formatted once per day (a hit is a hot path)."""
        number = int(self.clock() // 86_400)
        if number != self._day[0]:
            self._day = (number, datetime.fromtimestamp(number * 86_400, UTC).strftime("%Y-%m-%d"))
        return self._day[1]

    def _count(self, report: CacheReport) -> None:
        hook = getattr(self.observer, "cache", None)
        if hook is None:
            return
        try:
            hook(report.outcome, report.match, report.saved_usd)
        except Exception as exc:
            log.warning("cache observer failed: %s", type(exc).__name__)


def _mark(
    report: CacheReport,
    entry: CachedAnswer,
    now: float,
    match: str,
    similarity: float | None = None,
) -> None:
    """``report`` says ``entry`` was served as a hit (its age, what it saved, its model)."""
    report.outcome, report.match, report.similarity = "hit", match, similarity  # type: ignore[assignment]
    report.age_s, report.saved_usd = entry.age_s(now), entry.cost_nanos / 1e9
    report.model = entry.model


def _who(admission: Admission | None) -> tuple[str, str | None]:
    """The key id and team a spend row is written for."""
    if admission is None:
        return current_principal().key_id, None
    team = admission.team.team_id if admission.team is not None else None
    return admission.key_id, team
