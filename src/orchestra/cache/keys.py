"""The cache key: a canonical hash of what determines an answer, in its namespace.

Everything in the unified request is part of the key (the route or model as the client
named it, messages, tools, response format, temperature, top_p, seed, max_tokens, stop,
vendor extensions...) except what cannot change the answer (:data:`NOT_IN_KEY`: streaming,
the caller's bookkeeping, Orchestra's own options). A request that came in another format
keeps its own body beside (fields the gateway passes through to a same-format upstream), so
that body is part of its key too: each inbound format keys its own answers.

The namespace comes first (``k:<key id>``, ``t:<team id>``, ``g``): two keys never share an
entry unless the operator configured a team or global namespace.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pydantic_core

from orchestra.schemas.chat import ChatRequest

#: request fields that do not change the answer
NOT_IN_KEY = frozenset(
    {"stream", "stream_options", "orchestra", "user", "metadata", "store", "service_tier"}
)
#: the same for a native body (another format's own fields)
NATIVE_NOT_IN_KEY = frozenset({"stream", "metadata", "user", "store"})


#: request fields a client may send with their keys in any order (JSON objects it built)
_FREE_ORDER = ("tools", "tool_choice", "response_format", "thinking")
_EXCLUDE = set(NOT_IN_KEY)
_NESTED = (dict, list)


def _canon(value: Any) -> Any:
    """``value`` with every object's keys sorted, at every depth (lists keep their order)."""
    if type(value) is dict:
        return {k: _canon(v) if type(v) in _NESTED else v for k, v in sorted(value.items())}
    if type(value) is list:
        return [_canon(item) if type(item) in _NESTED else item for item in value]
    return value


def _digest(namespace: str, fields: dict[str, Any]) -> str:
    # pydantic-core's JSON encoder (Rust) and SHA-256 (hardware-accelerated on x86-64 and
    # Graviton, twice blake2b's speed here): a 10 KB prompt hashes in ~10 us
    data = pydantic_core.to_json(fields)
    return namespace + ":" + hashlib.sha256(data).hexdigest()[:32]


def _fields(request: ChatRequest) -> dict[str, Any]:
    """What keys an answer, with keys sorted only where their order can vary: the model's
    own fields always dump in declaration order, so sorting the whole tree (the cost of a
    Python walk over every node) is needed only for client-built objects and extras."""
    fields = request.model_dump(exclude=_EXCLUDE, exclude_none=True)
    for name in _FREE_ORDER:
        value = fields.get(name)
        if type(value) is dict or type(value) is list:
            fields[name] = _canon(value)
    for name in request.__pydantic_extra__ or ():  # vendor extensions (the dump keeps them)
        if name in _EXCLUDE:
            fields.pop(name, None)
        elif name in fields:
            fields[name] = _canon(fields[name])
    messages = fields["messages"]
    for index, message in enumerate(request.messages):
        if (
            message.__pydantic_extra__
            or message.tool_calls
            or message.thinking_blocks
            or type(message.content) is list
        ):
            messages[index] = _canon(messages[index])
    native = request.native
    if native is not None:
        body = {k: v for k, v in native.body.items() if k not in NATIVE_NOT_IN_KEY}
        fields["_native"] = {"format": native.format, "body": _canon(body)}
    # extensions come after the declared fields in the order the client sent them
    return {name: fields[name] for name in sorted(fields)}


def answer_key(request: ChatRequest, namespace: str) -> str:
    """``<namespace>:<32 hex digits>``: the exact cache's key."""
    return _digest(namespace, _fields(request))


def last_user_index(request: ChatRequest) -> int | None:
    for index in range(len(request.messages) - 1, -1, -1):
        if request.messages[index].role == "user":
            return index
    return None


def last_user_text(request: ChatRequest) -> str | None:
    """The last user message's text (its text parts joined); None when it has none."""
    index = last_user_index(request)
    if index is None:
        return None
    content = request.messages[index].content
    if isinstance(content, str):
        return content or None
    if not content:
        return None
    texts = [part.get("text", "") for part in content if isinstance(part, dict)]
    texts = [t for t in texts if t]
    if len(texts) != len(content):  # an image, a document: not a question to paraphrase
        return None
    return "\n".join(texts) or None


def scope_key(request: ChatRequest, namespace: str) -> str:
    """Everything but the last user message's text, hashed: a semantic hit must match it
    exactly (model or profile, system prompt, earlier turns, tools, parameters)."""
    fields = _fields(request)
    index = last_user_index(request)
    if index is not None:
        fields["messages"][index].pop("content", None)
    native = fields.get("_native")
    if native is not None:  # the native body's messages hold the question too
        for name in ("messages", "contents", "input"):
            native["body"].pop(name, None)
        fields["_native_turns"] = len(request.messages)
    return _digest(namespace, fields)
