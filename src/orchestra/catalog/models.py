"""The model catalog: what each model costs, holds and is good for."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Iterator
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orchestra.errors import UnknownModel

#: "tools" | "vision" | "streaming" | "json"; an embedding model has "embeddings" (never
#: routed for chat) and "dimensions" when it can shorten its vectors on request
Capability = str
EMBEDDINGS: Capability = "embeddings"


class FieldSource(BaseModel):
    """Where a catalog field's value came from: the source, its own id for the model, when
    it was fetched, and how sure the name match was (100 = same name or explicit alias)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    source: str
    ref: str = ""
    at: str = ""
    match: float | None = None


class ModelInfo(BaseModel):
    """One routable model. ``id`` is ``<provider>/<upstream model>`` (provider = config name)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    upstream_model: str = ""
    context_window: int = Field(gt=0)
    max_output_tokens: int = Field(default=4096, gt=0)
    input_price: float = Field(ge=0, description="USD per input token")
    output_price: float = Field(ge=0, description="USD per output token")
    #: USD per prompt token read from / written to the vendor's prompt cache; None: the
    #: family's published multiple of ``input_price`` (``catalog/pricing.py``)
    cache_read_price: float | None = Field(default=None, ge=0)
    cache_write_price: float | None = Field(default=None, ge=0)
    quality: float = Field(description="arena-style rating; higher is better")
    latency_ms: float = Field(default=1000.0, gt=0, description="typical time to first token")
    tokens_per_s: float = Field(default=80.0, gt=0)
    capabilities: frozenset[Capability] = frozenset({"streaming"})
    aliases: tuple[str, ...] = ()
    #: an embedding model's vector size (when the request sets no ``dimensions``)
    dimensions: int | None = Field(default=None, gt=0)
    #: the open-weights repository on the Hugging Face Hub, when there is one
    hf_repo: str | None = None
    #: field -> where its value came from (fields absent here come from the snapshot's
    #: authors or the operator's config)
    provenance: dict[str, FieldSource] = Field(default_factory=dict)

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def provider(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def upstream(self) -> str:
        return self.upstream_model or self.id.split("/", 1)[1]

    @property
    def is_embedding(self) -> bool:
        return EMBEDDINGS in self.capabilities

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """An estimate from plain counts (no cache detail), for scoring and hedges; an
        answer's cost is ``catalog.pricing.cost_usd(model, usage)``."""
        return prompt_tokens * self.input_price + completion_tokens * self.output_price

    def blended_price(self) -> float:
        """USD per token for a typical 3:1 input:output mix."""
        return (3 * self.input_price + self.output_price) / 4


_REGION = re.compile(r"^(?:us|eu|apac|au|jp|global|us-gov)\.")
_VENDOR = re.compile(
    r"^(?:anthropic|amazon|meta|mistral|cohere|ai21|deepseek|openai|qwen|google)\."
)
_VERSION = re.compile(r"-v\d+(?::\d+)?$")
_DATE = re.compile(r"(?:-\d{8}|-\d{4}-\d{2}-\d{2}|@\d{8}|-latest|@latest)$")


def canonical_name(name: str) -> str:
    """A model name as every client may spell it, reduced to one form: no vendor path
    (``anthropic/``, Gemini's ``models/``), no Bedrock region or vendor prefix and version
    (``us.anthropic.`` ... ``-v1:0``), no snapshot date (``-20250929``, ``-2025-08-07``,
    ``@20250929``, ``-latest``), dots as dashes (``claude-sonnet-4.5``)."""
    name = name.strip().lower().rsplit("/", 1)[-1]
    name = _VENDOR.sub("", _REGION.sub("", name))
    name = _DATE.sub("", _VERSION.sub("", name))
    return name.replace(".", "-")


class Catalog:
    """An immutable set of models with lookup by id, alias and canonical name."""

    def __init__(self, models: Iterable[ModelInfo]) -> None:
        self._models: dict[str, ModelInfo] = {}
        self._aliases: dict[str, str] = {}
        self._canonical: dict[str, list[str]] = {}
        for model in models:
            self._models[model.id] = model
        for model in self._models.values():
            for alias in (*model.aliases, model.upstream):
                self._aliases.setdefault(alias.lower(), model.id)
                self._canonical.setdefault(canonical_name(alias), []).append(model.id)
        self.version = len(self._models)

    def __iter__(self) -> Iterator[ModelInfo]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._models

    def get(self, model_id: str, served: Collection[str] = ()) -> ModelInfo:
        """By id, then by alias or bare upstream name (``gpt-4o`` -> ``openai/gpt-4o``),
        then by :func:`canonical_name` (``claude-sonnet-4-5-20250929``, ``models/gemini-2.5-pro``),
        preferring a model whose provider is in ``served`` when several share the name."""
        found = self._models.get(model_id)
        if found is None and (alias := self._aliases.get(model_id.lower())) is not None:
            found = self._models[alias]
        if found is None and (same := self._canonical.get(canonical_name(model_id))):
            pick = next((i for i in same if i.split("/", 1)[0] in served), same[0])
            found = self._models[pick]
        if found is None:
            raise UnknownModel(
                f"The model '{model_id}' does not exist or is not served by this gateway",
                param="model",
            )
        return found

    def merged_with(self, overrides: Iterable[ModelInfo]) -> Catalog:
        merged = dict(self._models)
        merged.update({m.id: m for m in overrides})
        return Catalog(merged.values())


def load_snapshot() -> Catalog:
    """The catalog bundled with the package (regenerated by ``orchestra sync``)."""
    raw = resources.files("orchestra.catalog").joinpath("snapshot.json").read_text("utf-8")
    return catalog_from_records(json.loads(raw)["models"])


def catalog_from_records(records: Iterable[dict[str, Any]]) -> Catalog:
    """Models from plain dicts (snapshot file, DynamoDB items); bad records are skipped."""
    models = []
    for record in records:
        try:
            models.append(ModelInfo.model_validate(record))
        except ValueError:
            continue
    return Catalog(models)
