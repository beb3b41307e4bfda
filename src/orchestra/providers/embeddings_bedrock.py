"""Bedrock embeddings: ``InvokeModel`` (``POST /model/{id}/invoke``), signed like Converse.

The model's family decides the body:

- Titan Text Embeddings (``amazon.titan-embed-text-v2:0``): one text per call,
  ``{"inputText", "dimensions", "normalize": true}`` -> ``{"embedding",
  "inputTextTokenCount"}``; the calls run side by side, at most :data:`TITAN_PARALLEL` at once;
- Cohere Embed v3 (``cohere.embed-english-v3``, ``cohere.embed-multilingual-v3``): up to 96
  texts per call, ``{"texts", "input_type": "search_document"}`` -> ``{"embeddings":
  [[...]]}`` (no token counts: estimated).

The URL base, the SigV4 signer, the request builder and the error reading are the chat
adapter's (:class:`~orchestra.providers.bedrock.BedrockProvider`), borrowed, not repeated.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from orchestra.errors import ProviderBadRequest
from orchestra.providers.base import CallOptions
from orchestra.providers.embeddings import (
    Embeddings,
    HttpEmbeddings,
    Vector,
    bounded,
    estimated_tokens,
)

if TYPE_CHECKING:
    from orchestra.providers.bedrock import BedrockProvider

TITAN_PARALLEL = 8
COHERE_BATCH = 96
COHERE_INPUT_TYPE = "search_document"


def titan_body(text: str, model: str, dimensions: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"inputText": text}
    if dimensions is not None:
        body["dimensions"] = dimensions
    if "-v2" in model:  # v1 takes the text alone
        body["normalize"] = True
    return body


def parse_titan(data: Any) -> tuple[Vector, int | None]:
    tokens = data.get("inputTextTokenCount")
    return [float(v) for v in data["embedding"]], tokens if isinstance(tokens, int) else None


def cohere_body(texts: list[str]) -> dict[str, Any]:
    return {"texts": texts, "input_type": COHERE_INPUT_TYPE}


def parse_cohere(data: Any) -> list[Vector]:
    found = data["embeddings"]
    if isinstance(found, dict):  # asked with ``embedding_types``: {"float": [[...]]}
        found = found["float"]
    return [[float(v) for v in vector] for vector in found]


def family(model: str) -> str | None:
    if "titan-embed" in model:
        return "titan"
    if "cohere.embed" in model:
        return "cohere"
    return None


class BedrockEmbeddings(HttpEmbeddings):
    """Titan and Cohere embedding models on Bedrock Runtime."""

    provider: BedrockProvider

    def __init__(self, provider: BedrockProvider) -> None:
        super().__init__(provider)

    async def embed(
        self, texts: list[str], model: str, dimensions: int | None, options: CallOptions
    ) -> Embeddings:
        kind = family(model)
        if kind == "titan":
            return await self._titan(texts, model, dimensions, options)
        if kind == "cohere":
            return await self._cohere(texts, model, options)
        raise ProviderBadRequest(
            f"{model} is not a Bedrock embedding model Orchestra can call (Titan or Cohere)",
            provider=self.name,
            model=model,
            param="model",
        )

    async def _invoke(
        self, model: str, body: dict[str, Any], options: CallOptions, parse: Callable[[Any], Any]
    ) -> Any:
        url = f"{self.provider.base}/model/{quote(model, safe='')}/invoke"
        content = json.dumps(body, separators=(",", ":")).encode()
        headers = {
            **self.provider.config.headers,
            "content-type": "application/json",
            "accept": "application/json",
        }
        signed = self.provider.signer.headers(url, content, headers, model)
        return await self.call(url, signed, model, options, parse, content=content)

    async def _titan(
        self, texts: list[str], model: str, dimensions: int | None, options: CallOptions
    ) -> Embeddings:
        def one(text: str) -> Callable[[], Awaitable[tuple[Vector, int | None]]]:
            return lambda: self._invoke(
                model, titan_body(text, model, dimensions), options, parse_titan
            )

        answers = await bounded([one(text) for text in texts], TITAN_PARALLEL)
        vectors = [vector for vector, _ in answers]
        counted = [tokens for _, tokens in answers]
        tokens = (
            sum(t for t in counted if t is not None)
            if all(t is not None for t in counted)
            else estimated_tokens(texts)
        )
        return Embeddings(vectors, tokens)

    async def _cohere(self, texts: list[str], model: str, options: CallOptions) -> Embeddings:
        batches = [texts[i : i + COHERE_BATCH] for i in range(0, len(texts), COHERE_BATCH)]

        def one(batch: list[str]) -> Callable[[], Awaitable[list[Vector]]]:
            return lambda: self._invoke(model, cohere_body(batch), options, parse_cohere)

        parts = await bounded([one(batch) for batch in batches], TITAN_PARALLEL)
        vectors = [vector for part in parts for vector in part]
        self.check_count(vectors, texts, model)
        return Embeddings(vectors, estimated_tokens(texts))
