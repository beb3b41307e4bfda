"""Deployments: the catalog entries that serve one model, and how each may be used.

A deployment is one catalog entry (``<provider>/<upstream model>``). The same model through
another provider, key, region or account is another deployment of it; together they form
the model's **group**. Routing ranks models, load balancing orders a group's deployments
(:mod:`orchestra.resilience.balancer`), fallback tries the next deployment before the next
model.

Groups come from two places:

- automatically: catalog entries whose upstream names reduce to the same
  :func:`~orchestra.catalog.models.canonical_name` (Claude via ``anthropic/``, ``bedrock/``
  and ``openrouter/`` is one group, ``claude-sonnet-4-5``);
- explicitly, from ``deployments:`` in orchestra.yaml::

    deployments:
      gpt-4o:                      # the model as clients name it (any spelling Catalog.get knows)
        strategy: weighted         # optional; default: Settings.lb_strategy
        targets:
          - {provider: openai, weight: 3}
          - {provider: openai-2, weight: 1}            # a second key: a clone of openai/gpt-4o
          - {provider: azure-east, upstream_model: gpt4o-prod, continue_streams: false}

  Target fields: ``provider`` (required; a configured provider), ``upstream_model``
  (default: the base model's upstream name), ``weight`` (> 0, default 1; the weighted and
  composite strategies), ``continue_streams`` (default true), ``hedge`` (default true),
  ``first_token_s`` (the cold-start first-token budget before any observation, seconds),
  ``input_price``/``output_price`` (USD per token, overriding the base model's). Unknown
  fields are refused. An explicit group is exactly its targets; they leave any automatic
  group.

A target whose ``<provider>/<upstream>`` is not in the catalog becomes a **clone** of the
base model (the entry the group's key resolves to): same quality, window and capabilities,
its own id, its own prices when given. Clones are derived each time the catalog is made
(:meth:`Deployments.apply`), so they follow the base model's synced fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orchestra.catalog.models import Catalog, ModelInfo, canonical_name
from orchestra.config import LbStrategy
from orchestra.errors import InvalidRequest, UnknownModel

#: the most deployments of one model a plan holds (a chain is tried within one deadline)
MAX_PER_GROUP = 10


class DeploymentTarget(BaseModel):
    """One deployment of a model in orchestra.yaml (see the module docstring)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    provider: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    upstream_model: str | None = None
    weight: float = Field(default=1.0, gt=0)
    continue_streams: bool = True
    hedge: bool = True
    first_token_s: float | None = Field(default=None, gt=0)
    input_price: float | None = Field(default=None, ge=0)
    output_price: float | None = Field(default=None, ge=0)


class DeploymentGroupEntry(BaseModel):
    """A model's deployments in orchestra.yaml and, optionally, its own strategy."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    strategy: LbStrategy | None = None
    targets: list[DeploymentTarget] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class DeploymentOptions:
    """How one deployment may be used (defaults for a deployment no file names)."""

    weight: float = 1.0
    continue_streams: bool = True
    hedge: bool = True
    #: the first-token budget before anything was observed (None: from ``latency_ms``)
    first_token_s: float | None = None


DEFAULT_OPTIONS = DeploymentOptions()


class DeploymentTable:
    """Groups, options and strategies for one catalog, built once per catalog (the router
    builds it with its index); every lookup is one dict read.

    ``models``: the entries that may be grouped (the router passes the chat models of the
    configured providers); ``entries``: orchestra.yaml's ``deployments``."""

    def __init__(
        self,
        models: Iterable[ModelInfo],
        entries: Mapping[str, DeploymentGroupEntry],
        catalog: Catalog,
    ) -> None:
        served = {m.id: m for m in models}
        self._group: dict[str, str] = {}
        self._members: dict[str, tuple[ModelInfo, ...]] = {}
        self._options: dict[str, DeploymentOptions] = {}
        self._strategy: dict[str, str] = {}
        #: explicit group keys as clients may spell them -> group
        self._named: dict[str, str] = {}
        for key, entry in entries.items():
            try:
                self._add_explicit(key, entry, catalog, served)
            except UnknownModel:  # gone from a refreshed catalog: checked at start-up
                continue
        automatic: dict[str, list[ModelInfo]] = {}
        for model in served.values():
            if model.id not in self._group:
                automatic.setdefault(canonical_name(model.upstream), []).append(model)
        for name, members in automatic.items():
            if len(members) > 1:
                self._set_group(name, members)

    def _add_explicit(
        self,
        key: str,
        entry: DeploymentGroupEntry,
        catalog: Catalog,
        served: Mapping[str, ModelInfo],
    ) -> None:
        base = catalog.get(key)
        members = []
        for target in entry.targets:
            model_id = target_id(base, target)
            self._options[model_id] = DeploymentOptions(
                target.weight, target.continue_streams, target.hedge, target.first_token_s
            )
            if model_id in served:
                members.append(served[model_id])
        if entry.strategy is not None:
            self._strategy[key] = entry.strategy
        self._named[key.lower()] = self._named[canonical_name(key)] = key
        self._set_group(key, members)

    def _set_group(self, name: str, members: list[ModelInfo]) -> None:
        kept = tuple(dict.fromkeys(members))[:MAX_PER_GROUP]
        self._members[name] = kept
        if len(kept) > 1:  # a model alone has no group
            for model in kept:
                self._group[model.id] = name

    def group(self, model_id: str) -> str:
        """The model ``model_id`` is a deployment of; "" when it has no other deployment."""
        return self._group.get(model_id, "")

    def members(self, group: str) -> tuple[ModelInfo, ...]:
        """The group's served deployments (at most :data:`MAX_PER_GROUP`)."""
        return self._members.get(group, ())

    def named(self, name: str) -> str:
        """The explicit group a client's model name means, or ""."""
        if not self._named:  # no file groups: skip the name reduction
            return ""
        return self._named.get(name.lower()) or self._named.get(canonical_name(name), "")

    def options(self, model_id: str) -> DeploymentOptions:
        return self._options.get(model_id, DEFAULT_OPTIONS)

    def weights(self, model_ids: list[str]) -> list[float]:
        """Each deployment's ``weight`` (1 where no file names it)."""
        options = self._options
        if not options:  # no file: every weight is 1
            return [1.0] * len(model_ids)
        return [options[i].weight if i in options else 1.0 for i in model_ids]

    def strategy(self, group: str) -> str | None:
        """The group's own strategy, or None (the default applies)."""
        return self._strategy.get(group)

    @property
    def grouped(self) -> bool:
        """Whether any model has several deployments (else the router skips grouping)."""
        return bool(self._group)


class Deployments:
    """orchestra.yaml's ``deployments`` (possibly none): adds the clones to each catalog
    made (:meth:`apply`) and builds a :class:`DeploymentTable` per catalog (:meth:`table`)."""

    def __init__(self, entries: Mapping[str, DeploymentGroupEntry] | None = None) -> None:
        self.entries: dict[str, DeploymentGroupEntry] = dict(entries or {})

    def apply(self, catalog: Catalog) -> Catalog:
        """``catalog`` with every target's entry: clones of the base model for targets it
        lacks, price overrides on those it has. A group whose key the catalog does not
        know is skipped here (:meth:`check` refuses it at start-up)."""
        if not self.entries:
            return catalog
        made: list[ModelInfo | None] = []
        for key, entry in self.entries.items():
            try:
                base = catalog.get(key)
            except UnknownModel:
                continue
            made.extend(_entry_for(base, target, catalog) for target in entry.targets)
        return catalog.merged_with(m for m in made if m is not None)

    def check(self, catalog: Catalog, providers: Iterable[str]) -> None:
        """Start-up validation: every key names a catalog model and every target a
        configured provider; :class:`InvalidRequest` naming the path otherwise."""
        configured = set(providers)
        for key, entry in self.entries.items():
            try:
                catalog.get(key)
            except UnknownModel as exc:
                raise InvalidRequest(
                    f"deployments.{key}: no catalog model is named {key!r}"
                ) from exc
            for i, target in enumerate(entry.targets):
                if target.provider not in configured:
                    raise InvalidRequest(
                        f"deployments.{key}.targets[{i}].provider: {target.provider!r} is "
                        f"not a configured provider (configured: {', '.join(sorted(configured))})"
                    )

    def table(self, models: Iterable[ModelInfo], catalog: Catalog) -> DeploymentTable:
        return DeploymentTable(models, self.entries, catalog)


def target_id(base: ModelInfo, target: DeploymentTarget) -> str:
    return f"{target.provider}/{target.upstream_model or base.upstream}"


def _entry_for(base: ModelInfo, target: DeploymentTarget, catalog: Catalog) -> ModelInfo | None:
    """The catalog entry a target calls: a clone of ``base`` when missing, the existing one
    with the target's prices when it sets any, else None (nothing to change)."""
    model_id = target_id(base, target)
    prices: dict[str, Any] = {}
    if target.input_price is not None:
        prices["input_price"] = target.input_price
    if target.output_price is not None:
        prices["output_price"] = target.output_price
    if model_id in catalog:
        return catalog.get(model_id).model_copy(update=prices) if prices else None
    upstream = target.upstream_model or base.upstream
    update = {"id": model_id, "upstream_model": upstream, "aliases": (), **prices}
    return base.model_copy(update=update)
