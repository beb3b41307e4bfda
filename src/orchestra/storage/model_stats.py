"""Per-model call metrics: aggregated in process, flushed as atomic counter additions.

``record`` is synchronous and does no I/O (it runs on the request path); ``flush`` writes
one ``MetricsBackend.add`` per (model, time bucket) touched since the last flush. The
latency histogram is a set of plain (non-cumulative) counters: each call adds 1 to exactly
one ``lat_le_<bound>`` counter, the first bound its latency does not exceed.

The recorder also keeps an exponentially weighted moving average of each model's latency
over successful calls, for routing (``observed_latency_ms``); it is never stored.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import defaultdict
from collections.abc import Callable

from orchestra.errors import StorageError
from orchestra.storage.protocols import MetricsBackend

_log = logging.getLogger("orchestra.metrics")

#: upper bounds (ms) of the latency histogram buckets; the last counter is ``lat_le_inf``
LATENCY_BOUNDS_MS: tuple[int, ...] = (50, 100, 250, 500, 1000, 2500, 5000)


def bucket_key(timestamp: float, bucket_s: int) -> str:
    """The sortable UTC label of the bucket containing ``timestamp``, e.g. 2024-05-01T12:34:00Z."""
    return _label(int(timestamp // bucket_s) * bucket_s)


@functools.lru_cache(maxsize=8)
def _label(start: int) -> str:  # one label per bucket, not one per request
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))


def latency_counter(latency_ms: float) -> str:
    """The histogram counter a latency falls into."""
    for bound in LATENCY_BOUNDS_MS:
        if latency_ms <= bound:
            return f"lat_le_{bound}"
    return "lat_le_inf"


class MetricsRecorder:
    def __init__(
        self,
        backend: MetricsBackend,
        *,
        bucket_s: int = 60,
        retention_days: int = 7,
        flush_interval_s: float = 10.0,
        ewma_alpha: float = 0.2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._backend = backend
        self._bucket_s = bucket_s
        self._retention_s = retention_days * 86_400
        self._flush_interval_s = flush_interval_s
        self._alpha = ewma_alpha
        self._clock = clock
        self._pending: dict[tuple[str, str], dict[str, float]] = {}
        self._expiry: dict[tuple[str, str], int] = {}
        self._ewma: dict[str, float] = {}
        self._last_flush = clock()
        self._flushing: asyncio.Task[None] | None = None

    def record_failure(self, model_id: str, latency_ms: float) -> None:
        """One failed attempt: no tokens, no cost, counted as an error."""
        self.record(
            model_id,
            latency_ms=latency_ms,
            prompt_tokens=0,
            completion_tokens=0,
            cost_usd=0.0,
            error=True,
        )

    def record(
        self,
        model_id: str,
        *,
        latency_ms: float,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: float,
        error: bool,
        speed_sample_ms: float | None = None,
    ) -> None:
        """Add one call to the in-process aggregate (no I/O).

        ``speed_sample_ms`` (default ``latency_ms``) feeds the moving average the router
        ranks by: the model's own attempt, projected to a typical answer length.
        """
        counters = self._counters(model_id)
        counters["count"] += 1
        counters["errors"] += 1 if error else 0
        counters["latency_ms_sum"] += latency_ms
        counters["prompt_tokens"] += prompt_tokens
        counters["completion_tokens"] += completion_tokens
        counters["cost_usd"] += cost_usd
        counters[latency_counter(latency_ms)] += 1
        if not error:
            sample = latency_ms if speed_sample_ms is None else speed_sample_ms
            previous = self._ewma.get(model_id)
            self._ewma[model_id] = (
                sample if previous is None else previous + self._alpha * (sample - previous)
            )

    def _counters(self, model_id: str) -> dict[str, float]:
        """The pending counters of ``model_id``'s current bucket."""
        now = self._clock()
        key = (model_id, bucket_key(now, self._bucket_s))
        counters = self._pending.get(key)
        if counters is None:
            counters = self._pending[key] = defaultdict(float)
            bucket_start = int(now // self._bucket_s) * self._bucket_s
            self._expiry[key] = bucket_start + self._bucket_s + self._retention_s
        return counters

    def record_hedge(self, model_id: str, cost_usd: float) -> None:
        """One hedge started beside a slow call to ``model_id`` (no I/O): counted with the
        estimated cost of the attempt that lost (its prompt, read and paid for nothing)."""
        counters = self._counters(model_id)
        counters["hedges"] += 1
        counters["hedge_cost_usd"] += cost_usd

    def observed_latency_ms(self, model_id: str) -> float | None:
        """Moving average latency of successful calls to ``model_id`` seen by this process."""
        return self._ewma.get(model_id)

    def due(self) -> bool:
        """Whether ``flush_interval_s`` has passed since the last flush."""
        return self._clock() - self._last_flush >= self._flush_interval_s

    def flush_soon(self) -> None:
        """When due, flush in the background, off the request path (one flush at a time)."""
        if self.due() and (self._flushing is None or self._flushing.done()):
            self._flushing = asyncio.get_running_loop().create_task(self.flush())

    async def flush(self) -> None:
        """Write every pending (model, bucket) aggregate with one ``add`` each.

        A failed write is logged and its counters kept for the next flush: metrics never
        fail a request.
        """
        pending, expiry = self._pending, self._expiry
        self._pending, self._expiry = {}, {}
        self._last_flush = self._clock()
        keys = list(pending)
        results = await asyncio.gather(
            *(self._backend.add(m, b, dict(pending[(m, b)]), expiry[(m, b)]) for m, b in keys),
            return_exceptions=True,
        )
        for key, result in zip(keys, results, strict=True):
            if isinstance(result, StorageError):
                _log.warning("metrics flush for %s failed, kept for retry: %s", key, result)
                self._requeue(key, pending[key], expiry[key])
            elif isinstance(result, BaseException):
                raise result

    def _requeue(self, key: tuple[str, str], counters: dict[str, float], expires_at: int) -> None:
        merged = self._pending.setdefault(key, defaultdict(float))
        for name, amount in counters.items():
            merged[name] += amount
        self._expiry[key] = expires_at
