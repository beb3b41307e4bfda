"""Who made a model, whoever serves it: the unit of independence for fan-out and fusion.

``openai/gpt-4o`` and ``openrouter/openai/gpt-4o-mini`` share a maker (their errors are
correlated); ``groq/llama-3.3-70b-versatile`` and ``openrouter/meta-llama/...`` are both
Meta's. Multi-generate spreads its picks over makers, and fusion's confidence counts a
maker's second voice at half weight.
"""

from __future__ import annotations

import re

#: name fragments (checked in order against the upstream model name) -> maker
_FAMILIES: tuple[tuple[str, str], ...] = (
    (r"^(gpt|o\d|chatgpt|text-davinci|davinci)", "openai"),
    (r"claude", "anthropic"),
    (r"gemini|gemma|palm", "google"),
    (r"llama|meta-", "meta"),
    (r"deepseek", "deepseek"),
    (r"mistral|mixtral|codestral|ministral|pixtral", "mistral"),
    (r"qwen|qwq", "alibaba"),
    (r"nova|titan", "amazon"),
    (r"command|aya", "cohere"),
    (r"grok", "xai"),
    (r"phi-", "microsoft"),
    (r"kimi|moonshot", "moonshot"),
    (r"glm", "zhipu"),
)
#: hosts that serve other makers' models: the maker is in the model name, not the provider
_HOSTS = frozenset(
    {"openrouter", "groq", "together", "fireworks", "bedrock", "ollama", "vllm", "azure"}
)


def maker_of(model_id: str) -> str:
    """The maker of ``<provider>/<upstream>``; the simulator's models count as distinct."""
    provider, _, upstream = model_id.partition("/")
    if provider == "simulator":
        return model_id
    name = upstream.lower().rsplit("/", 1)[-1]
    vendor = upstream.lower().split("/", 1)[0] if "/" in upstream else ""
    for pattern, maker in _FAMILIES:
        if re.search(pattern, name) or (vendor and re.search(pattern, vendor)):
            return maker
    if provider in _HOSTS:
        return vendor or name.split("-", 1)[0] or provider
    return {"gemini": "google", "anthropic": "anthropic"}.get(provider, provider)
