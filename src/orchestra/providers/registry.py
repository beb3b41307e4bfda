"""Which providers exist: from a documented config file and/or the vendors' usual env vars.

Keys are looked up by name in one mapping: the process environment locally, the provider
keys secret (a JSON object with the same names) in AWS. The config file names the variable
(``api_key_env``), never the key itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestra.catalog.deployments import DeploymentGroupEntry
from orchestra.catalog.models import ModelInfo
from orchestra.errors import InvalidRequest
from orchestra.providers.base import Provider, ProviderConfig, ProviderType
from orchestra.transport.http import HttpClients
from orchestra.transport.ssrf import AddressPolicy, validate_base_url

if TYPE_CHECKING:  # imported when a provider first embeds, never on the chat path
    from orchestra.providers.embeddings import EmbeddingClient

#: name -> (wire protocol, base URL, key variable); each appears when its key is set
WELL_KNOWN: dict[str, tuple[ProviderType, str, str]] = {
    "openai": ("openai", "https://api.openai.com/v1", "OPENAI_API_KEY"),
    "anthropic": ("anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY"),
    "gemini": ("gemini", "https://generativelanguage.googleapis.com/v1beta", "GEMINI_API_KEY"),
    "openrouter": ("openai", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "groq": ("openai", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    "together": ("openai", "https://api.together.xyz/v1", "TOGETHER_API_KEY"),
    "mistral": ("openai", "https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    "deepseek": ("openai", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
}
KEY_ALIASES = {"GEMINI_API_KEY": ("GOOGLE_API_KEY",)}
BEDROCK_REGION_VARS = ("ORCHESTRA_BEDROCK_REGION", "BEDROCK_REGION")

_ADAPTERS: dict[str, str] = {
    "openai": "orchestra.providers.openai:OpenAIProvider",
    "anthropic": "orchestra.providers.anthropic:AnthropicProvider",
    "gemini": "orchestra.providers.gemini:GeminiProvider",
    "bedrock": "orchestra.providers.bedrock:BedrockProvider",
    #: not an HTTP adapter: built from its config alone (see :mod:`orchestra.simulator`)
    "simulator": "orchestra.simulator:SimulatorProvider",
}

#: embedding clients by wire protocol, built from the provider's chat adapter (its upstream)
_EMBEDDERS: dict[str, str] = {
    "openai": "orchestra.providers.embeddings:OpenAIEmbeddings",
    "gemini": "orchestra.providers.embeddings:GeminiEmbeddings",
    "bedrock": "orchestra.providers.embeddings_bedrock:BedrockEmbeddings",
    "simulator": "orchestra.simulator.embeddings:SimulatorEmbeddings",
}


class ModelEntry(BaseModel):
    """A model the config file adds to the catalog (id without the provider prefix)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    id: str
    upstream_model: str | None = None
    context_window: int = Field(gt=0)
    max_output_tokens: int = 4096
    input_price: float = 0.0
    output_price: float = 0.0
    #: USD per prompt token read from / written to the prompt cache (None: the family's
    #: published multiple of ``input_price``, ``catalog/pricing.py``)
    cache_read_price: float | None = Field(default=None, ge=0)
    cache_write_price: float | None = Field(default=None, ge=0)
    quality: float = 1200.0
    latency_ms: float = 1000.0
    tokens_per_s: float = 80.0
    capabilities: list[str] = Field(default_factory=lambda: ["streaming"])
    #: an embedding model's vector size (capabilities ``["embeddings"]``)
    dimensions: int | None = Field(default=None, gt=0)


class ProviderEntry(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    type: ProviderType
    base_url: str | None = None
    api_key_env: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    region: str | None = None
    connect_timeout: float = 5.0
    allow_private: bool = False
    models: list[ModelEntry] = Field(default_factory=list)


class ConfigFile(BaseModel):
    """The providers file (``ORCHESTRA_CONFIG``); its models are built when one is read.

    ``deployments``: a model's deployments and their load balancing, keyed by the model as
    clients name it (:mod:`orchestra.catalog.deployments`)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    providers: list[ProviderEntry] = Field(default_factory=list)
    deployments: dict[str, DeploymentGroupEntry] = Field(default_factory=dict)


@dataclass
class Registry:
    providers: dict[str, Provider]
    configs: dict[str, ProviderConfig]
    extra_models: list[ModelInfo] = field(default_factory=list)
    simulated: bool = False
    #: embedding clients made so far (:meth:`embedder`), by provider name
    embedders: dict[str, EmbeddingClient] = field(default_factory=dict)
    #: wraps each embedding client when it is made (governance: metering); None: none
    wrap_embedder: Callable[[EmbeddingClient], EmbeddingClient] | None = None

    def names(self) -> set[str]:
        return set(self.providers)

    def builtin_tool_runners(self) -> set[str]:
        """The providers that run Responses built-in tools (OpenAI itself: its adapter
        says so with ``runs_builtin_tools``)."""
        return {
            name
            for name, provider in self.providers.items()
            if getattr(provider, "runs_builtin_tools", False)
        }

    def get(self, name: str) -> Provider:
        return self.providers[name]

    def embedder(self, name: str) -> EmbeddingClient | None:
        """The provider's embedding client (made on first use), or None when its wire
        protocol has no embeddings (Anthropic)."""
        found = self.embedders.get(name)
        path = _EMBEDDERS.get(self.configs[name].type) if name in self.configs else None
        if found is None and path is not None:
            module_name, _, class_name = path.partition(":")
            cls = getattr(importlib.import_module(module_name), class_name)
            provider = self.providers[name]  # the adapter itself, under any wrapper (metering)
            found = cls(getattr(provider, "wrapped", provider))
            if self.wrap_embedder is not None:
                found = self.wrap_embedder(found)
            self.embedders[name] = found
        return found


def load_config_file(path: str | Path) -> ConfigFile:
    import yaml  # only with a providers file: most functions have none

    try:
        raw = yaml.safe_load(Path(path).read_text("utf-8")) or {}
        return ConfigFile.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise InvalidRequest(f"cannot use providers file {path}: {exc}") from exc


def config_from_json(text: str) -> ConfigFile:
    """The providers file as the stack ships it to a function (``ORCHESTRA_CONFIG_JSON``)."""
    try:
        return ConfigFile.model_validate_json(text)
    except ValidationError as exc:
        raise InvalidRequest(f"cannot use ORCHESTRA_CONFIG_JSON: {exc}") from exc


def read_config(path: str | None, inline: str | None) -> ConfigFile | None:
    """The providers file named by ``path``, else the one given inline as JSON, else none."""
    if path:
        return load_config_file(path)
    return config_from_json(inline) if inline else None


def provider_configs(
    keys: Mapping[str, str], file: ConfigFile | None, *, allow_private: bool
) -> list[ProviderConfig]:
    """Configs from the file first; well-known vendors with a key fill in the rest."""
    configs: dict[str, ProviderConfig] = {}
    for entry in file.providers if file else []:
        configs[entry.name] = _from_entry(entry, keys, allow_private)
    for name, (kind, base_url, var) in WELL_KNOWN.items():
        key = _key(keys, var)
        if name not in configs and key:
            configs[name] = ProviderConfig(name=name, type=kind, base_url=base_url, api_key=key)
    region = next((keys[v] for v in BEDROCK_REGION_VARS if keys.get(v)), None)
    if "bedrock" not in configs and region:
        configs["bedrock"] = ProviderConfig(name="bedrock", type="bedrock", region=region)
    return list(configs.values())


def _key(keys: Mapping[str, str], var: str) -> str | None:
    for name in (var, *KEY_ALIASES.get(var, ())):
        if keys.get(name):
            return keys[name]
    return None


def _from_entry(
    entry: ProviderEntry, keys: Mapping[str, str], allow_private: bool
) -> ProviderConfig:
    default = WELL_KNOWN.get(entry.name)
    base_url = entry.base_url or (default[1] if default and default[0] == entry.type else None)
    allow_private = allow_private or entry.allow_private
    if base_url is not None:
        base_url = validate_base_url(base_url, allow_private=allow_private, provider=entry.name)
    var = entry.api_key_env or (default[2] if default else None)
    return ProviderConfig(
        name=entry.name,
        type=entry.type,
        base_url=base_url,
        api_key=_key(keys, var) if var else None,
        headers=entry.headers,
        region=entry.region,
        connect_timeout=entry.connect_timeout,
        allow_private=allow_private,
    )


def address_policy(configs: list[ProviderConfig], *, allow_private: bool) -> AddressPolicy:
    """What upstream connections may reach: private addresses everywhere when the deployment
    allows them, else only for the hosts of providers configured with ``allow_private``."""
    hosts = (urlsplit(c.base_url).hostname for c in configs if c.allow_private and c.base_url)
    return AddressPolicy.for_hosts(allow_private, (h for h in hosts if h))


def models_from_file(file: ConfigFile | None) -> list[ModelInfo]:
    models = []
    for entry in file.providers if file else []:
        for m in entry.models:
            record: dict[str, Any] = m.model_dump()
            record["upstream_model"] = m.upstream_model or m.id
            record["id"] = f"{entry.name}/{m.id}"
            models.append(ModelInfo.model_validate(record))
    return models


def instantiate(config: ProviderConfig, http: HttpClients) -> Provider:
    """Import the adapter for a wire protocol only when a provider uses it (cold start)."""
    module_name, _, class_name = _ADAPTERS[config.type].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    provider: Provider = cls(config) if config.type == "simulator" else cls(config, http)
    return provider


def build_registry(
    configs: list[ProviderConfig],
    http: HttpClients,
    *,
    extra_models: list[ModelInfo] | None = None,
    force_simulator: bool = False,
    simulator_options: dict[str, float | int | str] | None = None,
) -> Registry:
    """Real providers when any is configured; the simulator when none is (or when forced)."""
    providers = {c.name: instantiate(c, http) for c in configs}
    simulated = force_simulator or not providers
    if simulated:
        sim = ProviderConfig(name="simulator", type="simulator", options=simulator_options or {})
        providers["simulator"] = instantiate(sim, http)
        configs = [*configs, sim]
    return Registry(providers, {c.name: c for c in configs}, extra_models or [], simulated)
