"""What a source adapter hands the merge: records about models, and what it skipped and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from orchestra.catalog.models import Catalog


@dataclass(frozen=True)
class SourceRecord:
    """One model as a source describes it.

    ``fields`` uses the catalog's field names (``quality``, ``input_price``...). ``hosts``
    names the providers whose own offer the host-specific fields (prices, limits) describe:
    OpenRouter's ``openai/gpt-4o`` price is OpenRouter's and OpenAI's, not Groq's.
    """

    source: str
    ref: str
    fields: dict[str, Any]
    names: tuple[str, ...] = ()
    hosts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Skipped:
    ref: str
    reason: str


@dataclass
class Batch:
    source: str
    origin: str
    records: list[SourceRecord] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    #: an empty batch is a result, not a failure (nothing was asked of the source)
    empty_ok: bool = False
    #: requests of this batch that failed (a retry may bring their records)
    failed_fetches: int = 0

    def skip(self, ref: str, reason: str) -> None:
        self.skipped.append(Skipped(ref, reason))


class SourceAdapter(Protocol):
    """One catalog source: ``fetch`` does the I/O, ``parse`` is pure (and takes files)."""

    name: str
    #: where ``fetch`` reads
    url: str

    async def fetch(self, client: httpx.AsyncClient, catalog: Catalog) -> Any: ...

    def parse(self, payload: Any, origin: str) -> Batch: ...
