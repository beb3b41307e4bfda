"""What this instance has seen of each deployment: time to first token, errors, calls in
flight, and what the upstream's rate-limit headers said.

A deployment is one catalog entry (``<provider>/<upstream model>``): the same model through
another provider, key, region or account is another deployment. The numbers here are the
inputs of load balancing (:mod:`orchestra.resilience.balancer`) and of the attempt budgets
and hedge delays (:mod:`orchestra.resilience.budgets`). They are kept in process, per
instance, and read on every request, so reading them costs no I/O and little CPU; the state
every instance shares is the breakers'.
"""

from __future__ import annotations

import bisect
import math
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime

#: samples kept per series (time to first token, whole answers)
WINDOW = 64
#: a series needs this many samples before its quantiles are trusted (else: cold defaults)
MIN_SAMPLES = 8
#: the error rate's prior: this many successful calls, so that old failures fade with
#: time even when no new call comes (a ratio of two equally decayed counts never would)
PRIOR_CALLS = 1.0

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class Series:
    """The last :data:`WINDOW` samples in seconds, their EWMA and quantiles.

    The samples are also kept sorted as they come (one insertion and one removal by
    bisection per sample), so a quantile, read for every attempt's budget and hedge delay,
    is an index, never a sort."""

    __slots__ = ("_alpha", "_samples", "_sorted", "ewma")

    def __init__(self, alpha: float) -> None:
        self._alpha = alpha
        self._samples: deque[float] = deque()
        self._sorted: list[float] = []
        self.ewma: float | None = None

    def add(self, value: float) -> None:
        samples, ranked = self._samples, self._sorted
        if len(samples) == WINDOW:
            oldest = samples.popleft()
            del ranked[bisect.bisect_left(ranked, oldest)]
        samples.append(value)
        bisect.insort(ranked, value)
        self.ewma = value if self.ewma is None else self.ewma + self._alpha * (value - self.ewma)

    @property
    def count(self) -> int:
        return len(self._samples)

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile (nearest rank: the smallest sample with at least ``q`` of them
        at or below it) once :data:`MIN_SAMPLES` are in, else None."""
        ranked = self._sorted
        n = len(ranked)
        if n < MIN_SAMPLES:
            return None
        return ranked[min(max(math.ceil(q * n) - 1, 0), n - 1)]


class DeploymentState:
    """One deployment as seen from here (read by the strategies; written by :class:`DeploymentStats`)."""

    __slots__ = (
        "_errors",
        "_seen_at",
        "_total",
        "cooling_until",
        "outstanding",
        "remaining_requests",
        "remaining_tokens",
        "total_s",
        "ttft_s",
    )

    def __init__(self, alpha: float) -> None:
        #: streamed calls: seconds to the first chunk
        self.ttft_s = Series(alpha)
        #: buffered calls: seconds to the whole answer
        self.total_s = Series(alpha)
        self.outstanding = 0
        #: monotonic time before which the upstream asked to be left alone (Retry-After, or
        #: its rate-limit headers said the quota is spent until then)
        self.cooling_until = 0.0
        #: share of the upstream's request and token quota left, when its headers say
        self.remaining_requests: float | None = None
        self.remaining_tokens: float | None = None
        self._errors = 0.0
        self._total = 0.0
        self._seen_at = 0.0

    def error_rate(self, now: float, half_life_s: float) -> float:
        """Failures over calls, both decayed with ``half_life_s``, with a prior of
        :data:`PRIOR_CALLS` successes (0 before any call; fades to 0 when calls stop)."""
        if self._errors <= 0.0:  # never failed (most deployments): no decay to compute
            return 0.0
        decay: float = 0.5 ** (max(now - self._seen_at, 0.0) / half_life_s)
        return (self._errors * decay) / (self._total * decay + PRIOR_CALLS)

    def outcome(self, failed: bool, now: float, half_life_s: float) -> None:
        decay = 0.5 ** ((now - self._seen_at) / half_life_s) if self._total else 1.0
        self._errors = self._errors * decay + (1.0 if failed else 0.0)
        self._total = self._total * decay + 1.0
        self._seen_at = now

    def cooling(self, now: float) -> bool:
        return self.cooling_until > now


class DeploymentStats:
    """Per-deployment observations of this instance.

    ``low_water``: when an upstream's headers say less than this share of its request or
    token quota is left, the deployment cools until the quota resets (traffic is steered
    elsewhere before it starts answering 429).
    """

    def __init__(
        self,
        *,
        alpha: float = 0.2,
        error_half_life_s: float = 30.0,
        low_water: float = 0.02,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.alpha = alpha
        self.error_half_life_s = error_half_life_s
        self.low_water = low_water
        self.clock = clock
        self._states: dict[str, DeploymentState] = {}

    def state(self, deployment: str) -> DeploymentState:
        found = self._states.get(deployment)
        if found is None:
            found = self._states[deployment] = DeploymentState(self.alpha)
        return found

    def states(self, deployments: list[str]) -> list[DeploymentState]:
        """:meth:`state` of each (one call for a whole group: load balancing's hot path)."""
        states, state = self._states, self.state
        return [states.get(d) or state(d) for d in deployments]

    def error_rate(self, deployment: str) -> float:
        return self.state(deployment).error_rate(self.clock(), self.error_half_life_s)

    # --- what the attempt runner reports -------------------------------------------------

    def started(self, deployment: str) -> None:
        self.state(deployment).outstanding += 1

    def finished(self, deployment: str) -> None:
        state = self.state(deployment)
        state.outstanding = max(state.outstanding - 1, 0)

    def succeeded(self, deployment: str, seconds: float, *, streamed: bool) -> None:
        """A call answered: ``seconds`` to its first chunk (streamed) or whole answer."""
        state = self.state(deployment)
        (state.ttft_s if streamed else state.total_s).add(seconds)
        state.outcome(False, self.clock(), self.error_half_life_s)

    def failed(self, deployment: str, *, retry_after: float | None = None) -> None:
        now = self.clock()
        state = self.state(deployment)
        state.outcome(True, now, self.error_half_life_s)
        if retry_after is not None:
            state.cooling_until = max(state.cooling_until, now + retry_after)

    # --- what the upstream's headers say -------------------------------------------------

    def observe_headers(self, deployment: str, status: int, headers: Mapping[str, str]) -> None:
        """Rate-limit headers of any answer (OpenAI-style ``x-ratelimit-*``, Anthropic's
        ``anthropic-ratelimit-*``) and ``retry-after`` on 429/503.

        Called for every upstream answer: the headers are walked once, and an answer
        without rate-limit headers costs one pass over its names."""
        seen = _rate_headers(headers)
        if not seen:
            return
        now = self.clock()
        state = self.state(deployment)
        if status in (429, 503, 529):
            wait = _seconds(seen.get("retry-after-ms"), scale=0.001)
            wait = wait if wait is not None else _retry_after(seen.get("retry-after"))
            if wait is not None:
                state.cooling_until = max(state.cooling_until, now + wait)
        for kind in ("requests", "tokens"):
            share, reset_name = _quota(seen, kind)
            if share is None:
                continue
            if kind == "requests":
                state.remaining_requests = share
            else:
                state.remaining_tokens = share
            if share <= self.low_water:  # only then is the reset time needed
                reset = _reset_seconds(seen.get(reset_name))
                if reset is not None:
                    state.cooling_until = max(state.cooling_until, now + reset)


def _rate_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The rate-limit and retry headers, by lower-case name (one pass over the answer's;
    an ``httpx.Headers`` is read as its raw bytes, decoding only the names that match)."""
    raw: list[tuple[bytes, bytes]] | None = getattr(headers, "raw", None)
    if raw is None:
        return {
            name: value
            for name, value in ((k.lower(), v) for k, v in headers.items())
            if name.startswith(_RATE_PREFIXES)
        }
    found = {}
    for key, value in raw:
        if key[:1] in _RATE_FIRST and key.lower().startswith(_RATE_PREFIXES_B):
            found[key.decode("latin-1").lower()] = value.decode("latin-1")
    return found


_RATE_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-", "retry-after")
_RATE_PREFIXES_B = tuple(p.encode() for p in _RATE_PREFIXES)
_RATE_FIRST = {b"x", b"X", b"a", b"A", b"r", b"R"}


def _quota(headers: Mapping[str, str], kind: str) -> tuple[float | None, str]:
    """(share of the quota left, the name of the header saying when it resets) from
    either vendor's headers (``headers``: lower-case names)."""
    for limit_name, left_name, reset_name in (
        (f"x-ratelimit-limit-{kind}", f"x-ratelimit-remaining-{kind}", f"x-ratelimit-reset-{kind}"),
        (
            f"anthropic-ratelimit-{kind}-limit",
            f"anthropic-ratelimit-{kind}-remaining",
            f"anthropic-ratelimit-{kind}-reset",
        ),
    ):
        left = headers.get(left_name)
        if left is None:
            continue
        share = _share(left, headers.get(limit_name))
        if share is not None:
            return share, reset_name
    return None, ""


def _share(left: str, limit: str | None) -> float | None:
    try:
        remaining = float(left)
        total = float(limit) if limit is not None else None
    except ValueError:
        return None
    if total is None or total <= 0:
        return 0.0 if remaining <= 0 else None
    return max(min(remaining / total, 1.0), 0.0)


def _reset_seconds(value: str | None) -> float | None:
    """``"1s"``, ``"6m0s"``, ``"20ms"``, ``"2m59.56s"`` (OpenAI, Groq), a number of seconds,
    or an RFC 3339 time (Anthropic)."""
    if value is None:
        return None
    plain = _seconds(value)
    if plain is not None:
        return plain
    parts = _DURATION_PART.findall(value)
    if parts and "".join(n + u for n, u in parts) == value.strip():
        return sum(float(n) * _UNIT_S[u] for n, u in parts)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _retry_after(value: str | None) -> float | None:
    """``Retry-After``: seconds, or an HTTP date (RFC 9110)."""
    plain = _seconds(value)
    if plain is not None or value is None:
        return plain
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _seconds(value: str | None, *, scale: float = 1.0) -> float | None:
    if value is None:
        return None
    try:
        number = float(value) * scale
    except ValueError:
        return None
    return max(number, 0.0) if math.isfinite(number) else None
