"""What a function serves, as the API routes read it (``app.state.services``).

Every function has the settings, client auth, redaction, the HTTP client, the registry and
the catalog; each use case is there only in the functions that serve it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: a function imports just the use cases it serves
    from prometheus_client import CollectorRegistry

    from orchestra.api.auth import ApiKeyAuth
    from orchestra.batch.service import BatchService, FileService
    from orchestra.batch.steps import BatchSteps
    from orchestra.catalog.source import CatalogSource
    from orchestra.chain.service import ChainService
    from orchestra.chain.steps import ChainSteps
    from orchestra.config import Settings
    from orchestra.debate.service import DebateService
    from orchestra.debate.steps import DebateSteps
    from orchestra.embed.service import Embed
    from orchestra.generate.service import Generate
    from orchestra.governance.admin import KeyAdmin
    from orchestra.governance.admission import Governor
    from orchestra.governance.spend import SpendReport
    from orchestra.multi.service import MultiGenerate
    from orchestra.providers.registry import Registry
    from orchestra.redaction import Redactor
    from orchestra.storage.responses import ResponseStore
    from orchestra.transport.http import HttpClients


@dataclass
class Services:
    settings: Settings
    auth: ApiKeyAuth
    redactor: Redactor
    http: HttpClients
    registry: Registry
    catalog: CatalogSource
    gateway: Generate | None = None
    embeddings: Embed | None = None
    multi: MultiGenerate | None = None
    debates: DebateService | None = None
    debate_steps: DebateSteps | None = None
    #: stored OpenAI Responses answers (the functions serving ``/v1/responses``)
    responses: ResponseStore | None = None
    #: what ``GET /metrics`` renders (``orchestra serve`` with ``prometheus`` on), else None
    prometheus: CollectorRegistry | None = None
    #: keys and teams (``/v1/admin/*``: the admin function and ``orchestra serve``)
    admin: KeyAdmin | None = None
    #: spend reports (``GET /v1/spend``)
    spend: SpendReport | None = None
    #: admits each request's principal (governance); None: governance off
    governor: Governor | None = None
    #: chains (``/v1/chains*``) and the chain state machine's steps
    chains: ChainService | None = None
    chain_steps: ChainSteps | None = None
    #: OpenAI Files and Batches (``/v1/files*``, ``/v1/batches*``) and the batch steps
    files: FileService | None = None
    batches: BatchService | None = None
    batch_steps: BatchSteps | None = None

    async def aclose(self) -> None:
        """Stop local debate runs, release upstream connections (shutdown, test teardown)."""
        if self.debates is not None:
            await self.debates.starter.aclose()
        if self.chains is not None:
            await self.chains.starter.aclose()
        if self.batches is not None:
            await self.batches.starter.aclose()
        await self.http.aclose()
