"""``POST /v1/embeddings`` (OpenAI's shape).

``model`` is a catalog id (``openai/text-embedding-3-small``), an upstream name
(``text-embedding-3-small``) or ``auto`` (the cheapest configured embedding model); a chat
model is a 400 naming ``model``. ``encoding_format: base64`` (the openai SDK's default)
sends each vector as little-endian float32 bytes, base64-encoded.

Vectors of different models are not comparable, so no other model answers unless the
caller lists it in ``fallbacks`` (retries and the breaker on the same model still apply).
The headers say which space the vectors are in:

- ``x-orchestra-embedding-space``: the id of the model that made them;
- ``x-orchestra-fallback``: ``<requested model> -> <answering model>``, only when a listed
  fallback answered;
- ``x-orchestra-model``, ``-provider``, ``-attempts``, ``-cost-usd``: as for chat (cost is
  input tokens times the model's input price).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response

from orchestra.api import contract
from orchestra.api.body import validated
from orchestra.api.deps import Checked, checked_body, embed_of
from orchestra.embed.service import Embedded
from orchestra.schemas.embeddings import (
    Embedding,
    EmbeddingRequest,
    EmbeddingResponse,
    EmbeddingUsage,
)

router = APIRouter()

INPUT_SHAPE = "input must be a string or a list of strings"


def parse_embedding_request(body: bytes) -> EmbeddingRequest:
    return validated(EmbeddingRequest, body, _first_input_error)


def _first_input_error(errors: list[Any]) -> list[Any]:
    """``input`` is a union: a value no branch takes gives one error per branch
    (``input.str``, ``input.list[str].0``...), reported as one, under ``input``."""
    first = errors[0] if errors else {}
    if tuple(first.get("loc", ()))[:1] != ("input",):
        return errors
    message = first.get("msg", "") if first.get("type") == "value_error" else INPUT_SHAPE
    return [{"type": "value_error", "loc": ("input",), "msg": message}]


_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": contract.embedding_request()}},
    }
}


@router.post("/v1/embeddings", openapi_extra=_SCHEMA, response_model=EmbeddingResponse)
async def create_embeddings(
    call: Annotated[Checked[EmbeddingRequest], checked_body(parse_embedding_request)],
) -> Response:
    request = call.body
    result = await embed_of(call.services).embed(request)
    body = render(result, request.encoding_format)
    return Response(
        body.model_dump_json(), media_type="application/json", headers=embedding_headers(result)
    )


def render(result: Embedded, encoding_format: str) -> EmbeddingResponse:
    from orchestra.providers.embeddings import float32_base64

    encode = float32_base64 if encoding_format == "base64" else list
    data = [Embedding(index=i, embedding=encode(v)) for i, v in enumerate(result.vectors)]
    tokens = result.prompt_tokens
    usage = EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens)
    return EmbeddingResponse(data=data, model=result.model.id, usage=usage)


def embedding_headers(result: Embedded) -> dict[str, str]:
    headers = {
        "x-orchestra-embedding-space": result.model.id,
        "x-orchestra-model": result.model.id,
        "x-orchestra-provider": result.model.provider,
        "x-orchestra-attempts": ";".join(a.header_value() for a in result.attempts),
        "x-orchestra-cost-usd": f"{result.cost_usd:.8f}",
    }
    if result.fallback is not None:
        headers["x-orchestra-fallback"] = result.fallback
    return headers
