"""The batch functions' composition: Files and Batches for the workflows API, the batch
state machine's steps, and the adapter that sends each batch line through the gateway.

A line goes through the same use cases as a live request (``Generate.generate`` for chat,
``Embed.embed`` for embeddings: routing, fallback, breakers, cache, limits), admitted as the
batch's creator by the steps (``BatchSteps._as_creator``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Unpack

from pydantic import ValidationError

from orchestra.api.errors import validation_error
from orchestra.batch.processor import ChunkProcessor
from orchestra.batch.protocols import CHAT, EMBEDDINGS, Starter
from orchestra.batch.runner import LocalRunner
from orchestra.batch.service import BatchService, FileService
from orchestra.batch.steps import BatchSteps
from orchestra.batch.store import BatchStore
from orchestra.compose.core import Core, build_core
from orchestra.compose.records import blob_store, workflow_records
from orchestra.compose.roots import Options, embeddings, gateway, served
from orchestra.compose.services import Services
from orchestra.compose.starters import state_machine
from orchestra.config import Settings
from orchestra.embed.service import Embed
from orchestra.errors import InvalidRequest, WorkflowUnavailable
from orchestra.generate.service import Generate
from orchestra.schemas.chat import ChatRequest
from orchestra.schemas.embeddings import EmbeddingRequest


class GatewayEndpoints:
    """:class:`~orchestra.batch.protocols.Endpoints` over the generate and embed use cases:
    the body the route would have answered with (errors raise, as the route's would)."""

    def __init__(self, generate: Generate, embed: Embed) -> None:
        self.generate = generate
        self.embed = embed

    async def call(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        if url == CHAT:
            result = await self.generate.generate(_parsed(ChatRequest, body))
            assert result.response is not None
            return result.response.model_dump(mode="json", exclude_none=True)
        if url == EMBEDDINGS:
            from orchestra.api.routes.embeddings import render

            request = _parsed(EmbeddingRequest, body)
            embedded = await self.embed.embed(request)
            return render(embedded, request.encoding_format).model_dump(mode="json")
        raise InvalidRequest(f"url {url!r} cannot be batched", param="url")


def _parsed(model: Any, body: dict[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise validation_error(list(exc.errors())) from exc


def batch_store(core: Core) -> BatchStore:
    return BatchStore(workflow_records(core), blob_store(core), core.settings.workflows_ttl_days)


def file_service(core: Core) -> FileService:
    settings = core.settings
    return FileService(
        batch_store(core),
        settings.batch_max_file_bytes,
        settings.batch_max_lines,
        inline_bytes=settings.files_inline_bytes,
    )


def batch_steps(core: Core, generate: Generate, embed: Embed) -> BatchSteps:
    settings = core.settings
    processor = ChunkProcessor(GatewayEndpoints(generate, embed), settings.batch_line_concurrency)
    return BatchSteps(batch_store(core), processor, settings.batch_chunk_lines, core.governor)


def starter(core: Core, steps: Callable[[], BatchSteps]) -> Starter:
    """Step Functions deployed; otherwise the local runner over ``steps()``."""
    settings = core.settings
    machine = state_machine(
        settings,
        settings.batch_state_machine_arn,
        input_key="batch_id",
        error=WorkflowUnavailable,
        what="batch",
    )
    return machine if machine is not None else LocalRunner(steps(), settings.batch_concurrency)


def batch_service(core: Core, files: FileService, steps: Callable[[], BatchSteps]) -> BatchService:
    return BatchService(files.store, files, starter(core, steps))


def build_batch_steps(
    settings: Settings, environ: Mapping[str, str], **options: Unpack[Options]
) -> Services:
    core = build_core(settings, environ, **options)
    embed = embeddings(core)
    return served(core, batch_steps=batch_steps(core, gateway(core, embed), embed))
