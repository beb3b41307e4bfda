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
import json
from typing import Any

from orchestra.schemas.chat import ChatRequest

#: request fields that do not change the answer
NOT_IN_KEY = frozenset(
    {"stream", "stream_options", "orchestra", "user", "metadata", "store", "service_tier"}
)
#: the same for a native body (another format's own fields)
NATIVE_NOT_IN_KEY = frozenset({"stream", "metadata", "user", "store"})


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _digest(namespace: str, data: bytes) -> str:
    return namespace + ":" + hashlib.blake2b(data, digest_size=16).hexdigest()


def _fields(request: ChatRequest) -> dict[str, Any]:
    fields = request.model_dump(mode="json", exclude=set(NOT_IN_KEY), exclude_none=True)
    native = request.native
    if native is not None:
        body = {k: v for k, v in native.body.items() if k not in NATIVE_NOT_IN_KEY}
        fields["_native"] = {"format": native.format, "body": body}
    return fields


def answer_key(request: ChatRequest, namespace: str) -> str:
    """``<namespace>:<32 hex digits>``: the exact cache's key."""
    return _digest(namespace, _canonical(_fields(request)))


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
    return _digest(namespace, _canonical(fields))
