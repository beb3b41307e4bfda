"""Names that no normalisation can reconcile, stated once: a vendor's own name for a model
that everyone else calls differently. Each maps to a name the other sources use."""

from __future__ import annotations

ALIASES: dict[str, str] = {
    # Groq's names for Meta's instruct models
    "llama-3.1-8b-instant": "llama-3.1-8b-instruct",
    "llama-3.3-70b-versatile": "llama-3.3-70b-instruct",
    "llama3-70b-8192": "llama-3-70b-instruct",
    "llama3-8b-8192": "llama-3-8b-instruct",
    # DeepSeek's API names
    "deepseek-chat": "deepseek-v3",
    "deepseek-reasoner": "deepseek-r1",
    # moving aliases that point at a snapshot
    "gemini-2.0-flash": "gemini-2.0-flash-001",
    "gemini-2.0-flash-lite": "gemini-2.0-flash-lite-001",
}


def expand(name: str) -> tuple[str, ...]:
    """``name`` and its explicit alias, if any (matched on the bare, lower-case name)."""
    bare = name.strip().lower().rsplit("/", 1)[-1]
    alias = ALIASES.get(bare)
    return (name, alias) if alias else (name,)
