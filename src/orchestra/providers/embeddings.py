"""Embeddings out: one :class:`EmbeddingClient` per configured provider, beside its chat
adapter (never inside it).

An embedding client is built by :meth:`~orchestra.providers.registry.Registry.embedder` from
the provider's chat adapter, whose configured upstream it shares: base URL, key and extra
headers, the request builder (:meth:`~orchestra.providers.http_provider.HttpProvider.post`),
and the vendor's error reading (:meth:`~orchestra.providers.http_provider.HttpProvider.
map_error`), so an embedding failure is the same typed error as a chat one. The wire
mappings:

- OpenAI-compatible: ``POST {base}/embeddings`` ``{"model", "input": [...], "dimensions"}``
  -> ``{"data": [{"index", "embedding"}], "usage": {"prompt_tokens"}}``;
- Gemini: ``POST {base}/models/{model}:batchEmbedContents`` ``{"requests": [{"model":
  "models/<m>", "content": {"parts": [{"text"}]}, "outputDimensionality"}]}`` ->
  ``{"embeddings": [{"values"}]}`` (no token counts: estimated; at most 100 per call);
- Bedrock (Titan, Cohere): :mod:`~orchestra.providers.embeddings_bedrock`.

Vectors always come back as floats, L2-normalised where the vendor leaves shortened ones
unnormalised (Gemini below its full size); base64 is the API layer's business.
"""

from __future__ import annotations

import asyncio
import base64
import math
import struct
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar

from orchestra.errors import MalformedResponse
from orchestra.providers.base import CallOptions
from orchestra.providers.http_provider import HttpProvider
from orchestra.tokens import estimate_text_tokens
from orchestra.transport.http import map_errors, post_json

if TYPE_CHECKING:  # the chat adapters each client borrows from (already built)
    from orchestra.providers.gemini import GeminiProvider
    from orchestra.providers.openai import OpenAIProvider

T = TypeVar("T")
Vector = list[float]

GEMINI_BATCH = 100


class Embeddings(NamedTuple):
    """One vector per input text, in order, and the input tokens they cost."""

    vectors: list[Vector]
    prompt_tokens: int


class EmbeddingClient(Protocol):
    """One configured upstream's embedding endpoint."""

    name: str

    async def embed(
        self, texts: list[str], model: str, dimensions: int | None, options: CallOptions
    ) -> Embeddings: ...


def l2_normalised(vector: Sequence[float]) -> Vector:
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm > 0 else list(vector)


def float32_vector(encoded: str) -> Vector:
    """A vector sent as little-endian float32 bytes, base64-encoded."""
    raw = base64.b64decode(encoded)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def float32_base64(vector: Sequence[float]) -> str:
    """A vector as OpenAI's ``encoding_format=base64``: little-endian float32, base64."""
    import array

    packed = array.array("f", vector)
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def estimated_tokens(texts: Sequence[str]) -> int:
    return sum(estimate_text_tokens(t) for t in texts)


async def bounded(calls: Sequence[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Every call's result in order, at most ``limit`` at a time; the first failure is
    raised and the calls still running are cancelled."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    tasks = [asyncio.ensure_future(one(call)) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class HttpEmbeddings:
    """What every HTTP embedding client shares: its chat adapter's upstream and errors."""

    def __init__(self, provider: HttpProvider[Any, Any]) -> None:
        self.provider = provider
        self.name = provider.name

    async def call(
        self,
        url: str,
        headers: dict[str, str],
        model: str,
        options: CallOptions,
        parse: Callable[[Any], T],
        *,
        json: Any = None,
        content: bytes | None = None,
    ) -> T:
        """POST, read the JSON answer and ``parse`` it; every failure typed (a shape the
        parser cannot read is a :class:`~orchestra.errors.MalformedResponse`)."""
        with map_errors(self.name, model):
            request = self.provider.post(url, options, headers, json=json, content=content)
            data = await post_json(self.provider.http, request, self.provider.errors(model))
            return parse(data)

    def check_count(self, vectors: list[Vector], texts: Sequence[str], model: str) -> None:
        if len(vectors) != len(texts):
            raise MalformedResponse(
                f"{self.name} sent {len(vectors)} embeddings for {len(texts)} inputs",
                provider=self.name,
                model=model,
            )


# --- OpenAI-compatible -----------------------------------------------------------------


def openai_body(texts: list[str], model: str, dimensions: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "input": texts, "encoding_format": "float"}
    if dimensions is not None:
        body["dimensions"] = dimensions
    return body


def parse_openai(data: Any) -> tuple[list[Vector], int | None]:
    """The vectors in input order (by ``index``) and ``usage.prompt_tokens`` if given."""
    items = sorted(data["data"], key=lambda item: int(item["index"]))
    vectors = [_openai_vector(item["embedding"]) for item in items]
    usage = data.get("usage") or {}
    tokens = usage.get("prompt_tokens")
    return vectors, tokens if isinstance(tokens, int) else None


def _openai_vector(raw: Any) -> Vector:
    if isinstance(raw, str):  # a server that answers base64 whatever was asked
        return float32_vector(raw)
    return [float(v) for v in raw]


class OpenAIEmbeddings(HttpEmbeddings):
    """``POST {base_url}/embeddings`` on an OpenAI-compatible upstream."""

    def __init__(self, provider: OpenAIProvider) -> None:
        super().__init__(provider)
        base = (provider.config.base_url or "").rstrip("/")
        self.url = base + "/embeddings"
        self.headers = provider.headers

    async def embed(
        self, texts: list[str], model: str, dimensions: int | None, options: CallOptions
    ) -> Embeddings:
        body = openai_body(texts, model, dimensions)
        vectors, tokens = await self.call(
            self.url, self.headers, model, options, parse_openai, json=body
        )
        self.check_count(vectors, texts, model)
        return Embeddings(vectors, tokens if tokens is not None else estimated_tokens(texts))


# --- Gemini ----------------------------------------------------------------------------


def gemini_body(texts: list[str], model: str, dimensions: int | None) -> dict[str, Any]:
    def one(text: str) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": f"models/{model}",
            "content": {"parts": [{"text": text}]},
        }
        if dimensions is not None:
            request["outputDimensionality"] = dimensions
        return request

    return {"requests": [one(text) for text in texts]}


def parse_gemini(data: Any) -> list[Vector]:
    return [[float(v) for v in item["values"]] for item in data["embeddings"]]


class GeminiEmbeddings(HttpEmbeddings):
    """``batchEmbedContents`` on the Gemini API (batches of 100, run side by side)."""

    def __init__(self, provider: GeminiProvider) -> None:
        super().__init__(provider)
        self.base = provider.base
        self.headers = provider.headers

    async def embed(
        self, texts: list[str], model: str, dimensions: int | None, options: CallOptions
    ) -> Embeddings:
        url = f"{self.base}/models/{model}:batchEmbedContents"
        batches = [texts[i : i + GEMINI_BATCH] for i in range(0, len(texts), GEMINI_BATCH)]

        def batch_call(batch: list[str]) -> Callable[[], Awaitable[list[Vector]]]:
            body = gemini_body(batch, model, dimensions)
            return lambda: self.call(url, self.headers, model, options, parse_gemini, json=body)

        vectors = [v for part in await bounded([batch_call(b) for b in batches], 4) for v in part]
        self.check_count(vectors, texts, model)
        if dimensions is not None:  # only the full size comes back normalised
            vectors = [l2_normalised(v) for v in vectors]
        return Embeddings(vectors, estimated_tokens(texts))
