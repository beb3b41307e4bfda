"""The chat-completions request body for one OpenAI-compatible vendor.

The internal request is already chat completions, so the body is the client's own fields
(vendor extras included) minus what each vendor refuses or misreads:

- assistant ``reasoning_content`` and ``thinking_blocks`` never go out (OpenAI, Groq and
  Mistral reject unknown message fields; DeepSeek wants reasoning dropped from history),
  nor tool-call extras (Gemini's ``thought_signature``);
- ``cache_control`` on parts and tools goes only to OpenRouter (which forwards it to
  Anthropic and Gemini models);
- ``thinking`` (Anthropic's) is never sent: its budget becomes OpenAI's ``reasoning_effort``
  or OpenRouter's ``reasoning.max_tokens``, and is dropped elsewhere;
- ``top_k`` never goes to OpenAI (rejected); ``metadata`` only to OpenAI with ``store``;
- a tool message's ``is_error`` becomes an ``Error: `` prefix on its content;
- ``file`` parts get a ``filename`` (OpenAI needs one); a ``file_url`` becomes OpenRouter's
  URL ``file_data``, and OpenAI, which takes no file URLs in chat completions, refuses it
  with a client error naming the part (the gateway never fetches a client's URL).
"""

from __future__ import annotations

import mimetypes
from typing import Any, Literal
from urllib.parse import urlsplit

from orchestra.errors import InvalidRequest
from orchestra.providers.base import ProviderConfig
from orchestra.providers.wire import DATA_URL
from orchestra.schemas.chat import ChatMessage, ChatRequest

Vendor = Literal["openai", "openrouter", "deepseek", "other"]

#: Orchestra's own request fields and the internal ones no vendor takes: never forwarded
OWN_FIELDS = {
    "fallbacks",
    "profile",
    "orchestra",
    "model",
    "stream",
    "stream_options",
    "messages",
    "thinking",
    "anthropic_beta",
}
#: the fields of a message the internal contract adds (and no vendor here takes back)
REASONING_FIELDS = ("reasoning_content", "thinking_blocks")
TOOL_CALL_FIELDS = ("id", "type", "function")
#: (host suffix, vendor) for the vendors whose wire differs
HOSTS: tuple[tuple[str, Vendor], ...] = (
    ("api.openai.com", "openai"),
    (".openai.azure.com", "openai"),
    ("openrouter.ai", "openrouter"),
    ("api.deepseek.com", "deepseek"),
)
NAMES: dict[str, Vendor] = {"openai": "openai", "openrouter": "openrouter", "deepseek": "deepseek"}
DEFAULT_FILENAME = "document.pdf"


def vendor_of(config: ProviderConfig) -> Vendor:
    """Which vendor a configured upstream is: by its base URL's host, else by its name."""
    host = (urlsplit(config.base_url or "").hostname or "").lower()
    for suffix, vendor in HOSTS:
        if host == suffix.lstrip(".") or host.endswith(suffix):
            return vendor
    return NAMES.get(config.name.lower(), "other")


def to_body(
    request: ChatRequest, model: str, *, stream: bool, vendor: Vendor = "other"
) -> dict[str, Any]:
    """The upstream request body: the client's fields (vendor extras included) minus ours,
    shaped for ``vendor``."""
    body = request.model_dump(exclude_none=True, exclude=OWN_FIELDS)
    body["model"] = model
    body["messages"] = [_message(m, i, vendor) for i, m in enumerate(request.messages)]
    if vendor != "openrouter" and "tools" in body:
        body["tools"] = [_uncached(tool) for tool in body["tools"]]
    _map_thinking(body, request.thinking, vendor)
    if vendor == "openai":
        body.pop("top_k", None)
    if vendor != "openai" or not body.get("store"):
        body.pop("metadata", None)
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def effort_for(budget: int) -> str:
    """OpenAI's reasoning effort for an Anthropic thinking budget."""
    if budget <= 2048:
        return "low"
    return "medium" if budget <= 8192 else "high"


def _map_thinking(body: dict[str, Any], thinking: dict[str, Any] | None, vendor: Vendor) -> None:
    budget = (thinking or {}).get("budget_tokens")
    if (thinking or {}).get("type") != "enabled" or not isinstance(budget, int):
        return
    if vendor == "openai" and "reasoning_effort" not in body:
        body["reasoning_effort"] = effort_for(budget)
    elif vendor == "openrouter" and "reasoning" not in body:
        body["reasoning"] = {"max_tokens": budget}


def _message(message: ChatMessage, index: int, vendor: Vendor) -> dict[str, Any]:
    out = message.model_dump(exclude_none=True, exclude=set(REASONING_FIELDS))
    if "tool_calls" in out:
        out["tool_calls"] = [
            {k: v for k, v in call.items() if k in TOOL_CALL_FIELDS} for call in out["tool_calls"]
        ]
    if isinstance(out.get("content"), list):
        out["content"] = [
            _part(part, f"messages[{index}].content[{i}]", vendor)
            for i, part in enumerate(out["content"])
        ]
    if out.pop("is_error", None):
        out["content"] = _as_error(out.get("content"))
    return out


def _as_error(content: Any) -> Any:
    """A failed tool's result, worded so the failure survives without ``is_error``."""
    if isinstance(content, list):
        return [{"type": "text", "text": "Error: "}, *content]
    return f"Error: {content or ''}"


def _part(part: dict[str, Any], where: str, vendor: Vendor) -> dict[str, Any]:
    out = part if vendor == "openrouter" else _uncached(part)
    if out.get("type") == "file" and isinstance(out.get("file"), dict):
        out = {**out, "file": _file(out["file"], where, vendor)}
    return out


def _uncached(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != "cache_control"}


def _file(file: dict[str, Any], where: str, vendor: Vendor) -> dict[str, Any]:
    """A ``file`` part's ``file`` object as the vendor takes it (a filename always)."""
    out = dict(file)
    url = out.pop("file_url", None)
    if url is not None:
        if vendor == "openai":
            raise InvalidRequest(
                f"{where}: OpenAI chat completions take no file URLs; send the document "
                "inline as file_data (a base64 data: URL)",
                param=where,
            )
        if vendor != "openrouter":
            out["file_url"] = url  # the vendor judges its own extensions
            return out
        out["file_data"] = url  # OpenRouter fetches PDF URLs given as file_data
    if "file_id" not in out:
        out.setdefault("filename", _filename(str(out.get("file_data") or url or "")))
    return out


def _filename(source: str) -> str:
    """A name for a document the client sent without one: from a URL's path, else from
    the data URL's media type (``document.pdf`` when nothing says more)."""
    if match := DATA_URL.match(source):
        extension = mimetypes.guess_extension(match["mime"]) or ".pdf"
        return f"document{extension}"
    name = urlsplit(source).path.rsplit("/", 1)[-1]
    return name or DEFAULT_FILENAME
