"""``RepeatHits``: exact repeats of an earlier cache hit served without the pipeline.

An L1 hit costs the cache about 60 microseconds; the rest of the normal path (FastAPI's
routing and dependencies, the body parsed, the cached answer parsed and serialised again,
the response class) costs ten times that. Clients that ask the same question again send
the same bytes, so this ASGI middleware (inside ``SettleAfterResponse``, in front of the
router, ``api/app.create_app``) keeps, for each ``POST /v1/chat/completions`` the normal
path answered as an exact hit, the response it sent under a digest of the credentials as
presented and the body's bytes. A later request with the same digest is answered with
those bytes, after the same checks the normal path makes (docs/cache.md, "Repeat hits"):

- the key checked again (``auth.check``: a revoked key gets its 401 from the normal path),
  and admitted again through the governor: the policy objects must be the very ones the
  hit was admitted under (a policy changed or re-read since goes the normal way);
- the entry served must still be the LRU's under its key (identity: refreshed, evicted or
  past its freshness goes the normal way);
- the hit's side effects made by the same method (``AnswerCache.account``: the observer's
  count, the spend row after the response); ``x-orchestra-cache-age`` recomputed.

Anything else (another path or method, a streamed or chunked body, a body over
:data:`MAX_BODY`, ``cache-control`` or any ``x-orchestra-*`` header, a key with guardrails,
any doubt) goes to the app untouched, the body it read replayed as it came.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestra.api.auth import gateway_principal
from orchestra.cache.repeat import RepeatHit, RepeatSlot, repeat_slot
from orchestra.caller import set_caller, set_principal
from orchestra.governance.admission import current_admission

if TYPE_CHECKING:
    from orchestra.api.deps import Served
    from orchestra.cache.policy import AnswerCache

log = logging.getLogger("orchestra.cache")

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

PATH = "/v1/chat/completions"
#: the largest body a repeat is kept for (longer prompts: the normal path)
MAX_BODY = 64 * 1024
#: the most ``http.request`` messages a body is read in before the app has it
MAX_MESSAGES = 8
_AGE = b"x-orchestra-cache-age"
#: request headers that send a request the normal way (besides every ``x-orchestra-*``)
_NORMAL_WAY = frozenset({b"cache-control", b"transfer-encoding"})


@dataclass(frozen=True, slots=True)
class Repeat:
    """What the normal path's hit was made of and what it sent."""

    hit: RepeatHit
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def size(self) -> int:
        return len(self.body) + sum(len(n) + len(v) for n, v in self.headers) + 300

    def aged(self, age_s: float | None) -> list[tuple[bytes, bytes]]:
        """The headers sent, ``x-orchestra-cache-age`` now."""
        age = str(int(age_s or 0)).encode()
        return [(n, age) if n == _AGE else (n, v) for n, v in self.headers]


class RepeatMemo:
    """Repeats by raw id, least recently used dropped first past either bound."""

    def __init__(self, max_entries: int = 4096, max_bytes: int = 16 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[bytes, Repeat] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, raw: bytes) -> Repeat | None:
        found = self._entries.get(raw)
        if found is not None:
            self._entries.move_to_end(raw)
        return found

    def put(self, raw: bytes, repeat: Repeat) -> None:
        self.drop(raw)
        if repeat.size() > self.max_bytes:
            return
        self._entries[raw] = repeat
        self.bytes += repeat.size()
        while self.bytes > self.max_bytes or len(self._entries) > self.max_entries:
            _, dropped = self._entries.popitem(last=False)
            self.bytes -= dropped.size()

    def drop(self, raw: bytes) -> None:
        found = self._entries.pop(raw, None)
        if found is not None:
            self.bytes -= found.size()


@dataclass(frozen=True, slots=True)
class Candidate:
    """A request the fast path may serve: its declared length and credentials."""

    length: int
    credentials: str | None


def candidate(headers: Any, max_body: int) -> Candidate | None:
    """The request's length and credentials as ``api/deps.presented_credentials`` reads
    them; None when the request must go the normal way untouched."""
    length = authorization = api_key = goog_key = None
    for name, value in headers:
        if name == b"content-length":
            length = value
        elif name == b"authorization":
            authorization = value if authorization is None else authorization
        elif name == b"x-api-key":
            api_key = value if api_key is None else api_key
        elif name == b"x-goog-api-key":
            goog_key = value if goog_key is None else goog_key
        elif name in _NORMAL_WAY or name.startswith(b"x-orchestra-"):
            return None
    if length is None or not length.isdigit() or not 0 < int(length) <= max_body:
        return None
    if authorization is not None:
        return Candidate(int(length), authorization.decode("latin-1"))
    key = api_key or goog_key
    credentials = None if key is None else "Bearer " + key.decode("latin-1")
    return Candidate(int(length), credentials)


def raw_id(credentials: str | None, trusted: str | None, body: bytes) -> bytes:
    """A digest of the credentials as presented (and the authorizer's principal, behind
    API Gateway) and the body's bytes: equal only for the same caller's same request."""
    digest = hashlib.blake2b(digest_size=32)
    for part in (credentials, trusted):
        data = b"-" if part is None else b"=" + part.encode()
        digest.update(len(data).to_bytes(4, "big") + data + b"\0")
    digest.update(body)
    return digest.digest()


async def buffered(receive: Receive, length: int) -> tuple[list[Message], bytes | None]:
    """The messages read and, when they hold the whole body of ``length`` bytes in at most
    :data:`MAX_MESSAGES` messages, the body; else None (the request goes the normal way)."""
    messages: list[Message] = []
    parts: list[bytes] = []
    size = 0
    while len(messages) < MAX_MESSAGES:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        part = message.get("body", b"")
        parts.append(part)
        size += len(part)
        if size > length:
            return messages, None
        if not message.get("more_body", False):
            if size != length:
                return messages, None
            return messages, parts[0] if len(parts) == 1 else b"".join(parts)
    return messages, None


def replaying(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` giving the messages already read first, as they came."""
    pending = list(reversed(messages))

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay


class RepeatHits:
    """The fast path (see the module's doc); ``services``: the app's, read per request."""

    def __init__(
        self,
        app: ASGIApp,
        services: Served,
        max_body: int = MAX_BODY,
        memo: RepeatMemo | None = None,
    ) -> None:
        self.app = app
        self.services = services
        self.max_body = max_body
        self.memo = memo if memo is not None else RepeatMemo()
        #: the route the normal path matched (FastAPI's, in the scope), set on a repeat too
        self._route: Any = None

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        found = candidate(scope["headers"], self.max_body)
        gateway = self.services.gateway
        if found is None or gateway is None or gateway.cache is None:
            await self.app(scope, receive, send)
            return
        messages, body = await buffered(receive, found.length)
        replay = replaying(messages, receive)
        if body is None:
            await self.app(scope, replay, send)
            return
        auth = self.services.auth
        trusted = gateway_principal(scope) if auth.trust_gateway else None
        raw = raw_id(found.credentials, trusted, body) if len(self.memo) else None
        repeat = self.memo.get(raw) if raw is not None else None
        if repeat is not None:
            if await self._served(gateway.cache, repeat, scope, found.credentials, trusted, send):
                return
            self.memo.drop(raw)  # type: ignore[arg-type]
        await self._answered(
            scope, replay, send, lambda: raw or raw_id(found.credentials, trusted, body)
        )

    async def _served(
        self,
        cache: AnswerCache,
        repeat: Repeat,
        scope: MutableMapping[str, Any],
        credentials: str | None,
        trusted: str | None,
        send: Send,
    ) -> bool:
        """The repeat sent, after the normal path's checks; False: the normal way (any
        failure there included: the normal path answers it as it should)."""
        hit, services = repeat.hit, self.services
        try:
            principal = await services.auth.check(credentials, trusted)
            admission = None
            if services.governor is not None:
                admission = await services.governor.admit(principal)
                if admission.key is not hit.policy or admission.team is not hit.team_policy:
                    return False
        except Exception:  # a 401, a 503...: the normal path's to answer
            return False
        if principal.key_id != hit.key_id:
            return False
        report = cache.repeat(hit.key, hit.answer, hit.max_age)
        if report is None:
            return False
        set_caller(credentials)
        set_principal(principal)
        if admission is not None:
            current_admission.set(admission)
        metered = admission is not None and bool(admission.scopes)
        cache.account(report, hit.key_id, hit.team, hit.answer, metered=metered)
        if self._route is not None:  # what reads the matched route (the metrics' label)
            scope["route"] = self._route
        await send(
            {"type": "http.response.start", "status": 200, "headers": repeat.aged(report.age_s)}
        )
        await send({"type": "http.response.body", "body": repeat.body})
        return True

    async def _answered(
        self,
        scope: MutableMapping[str, Any],
        receive: Receive,
        send: Send,
        raw: Callable[[], bytes],
    ) -> None:
        """The normal path, its response kept when it was an exact hit sent whole."""
        slot = RepeatSlot()
        kept: list[Any] = []  # the start message, then the body's parts
        whole = False

        async def watch(message: Message) -> None:
            nonlocal whole
            kind = message["type"]
            if kind == "http.response.start":
                if slot.hit is not None and message["status"] == 200:
                    kept.append(message)
            elif kind == "http.response.body" and kept:
                kept.append(message.get("body", b""))
                whole = not message.get("more_body", False)
            await send(message)

        token = repeat_slot.set(slot)
        try:
            await self.app(scope, receive, watch)
        finally:
            repeat_slot.reset(token)
        if whole and slot.hit is not None:
            self._route = scope.get("route")
            self._keep(raw(), slot.hit, kept)

    def _keep(self, raw: bytes, hit: RepeatHit, kept: list[Any]) -> None:
        headers = [(bytes(n), bytes(v)) for n, v in kept[0].get("headers", ())]
        if any(n.startswith(b"x-ratelimit-") for n, _ in headers):
            return  # counters of the moment: never sent again
        self.memo.put(raw, Repeat(hit, headers, b"".join(kept[1:])))
