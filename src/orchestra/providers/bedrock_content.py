"""Converse content blocks: message parts (text, images, documents, cache points) and
Claude's reasoning blocks, both ways.

What a model takes depends on its family, read from the model id (after any cross-region
prefix such as ``us.`` or an ARN's path): :class:`ModelTraits`. Claude models
(``anthropic.*``) take extended thinking and their signed reasoning blocks back; Claude and
Nova models (``anthropic.claude*``, ``amazon.nova*``) take prompt-cache points, which others
refuse, so ``cache_control`` is dropped for them. An application inference profile ARN
names no family: it is treated as a model that takes neither.

Converse takes images and documents only as bytes (base64 in JSON), never as a URL to
fetch: an https image or a ``file_url`` is refused as a client error naming the part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from orchestra.providers.wire import DATA_URL, UnsupportedContent, image_url
from orchestra.schemas.chat import ChatMessage

CACHE_POINT: dict[str, Any] = {"cachePoint": {"type": "default"}}
IMAGE_FORMATS = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "gif": "gif", "webp": "webp"}
#: document media type -> Converse's document format
DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/plain": "txt",
    "text/markdown": "md",
    "text/html": "html",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
}
_EXTENSIONS = {fmt: fmt for fmt in DOCUMENT_FORMATS.values()} | {"htm": "html", "markdown": "md"}
_DATA_URL = re.compile(r"^data:image/(?P<fmt>[\w.+-]+);base64,(?P<data>.+)$", re.DOTALL)
_CLAUDE = re.compile(r"(?:^|[./])anthropic\.", re.IGNORECASE)
_CACHING = re.compile(r"(?:^|[./])(?:anthropic\.claude|amazon\.nova)", re.IGNORECASE)
#: what a document name may not hold (Converse: letters, digits, single spaces, - ( ) [ ])
_NAME_REFUSED = re.compile(r"[^A-Za-z0-9\s()\[\]-]+")


@dataclass(frozen=True)
class ModelTraits:
    """What a Bedrock model id takes beyond plain Converse."""

    claude: bool = False
    caching: bool = False

    @classmethod
    def of(cls, model: str) -> ModelTraits:
        return cls(claude=bool(_CLAUDE.search(model)), caching=bool(_CACHING.search(model)))


def content_blocks(message: ChatMessage, where: str, traits: ModelTraits) -> list[dict[str, Any]]:
    """A message's parts as Converse blocks, a cache point after each marked one."""
    if isinstance(message.content, str):
        return [{"text": message.content}] if message.content else []
    blocks: list[dict[str, Any]] = []
    for index, part in enumerate(message.content or []):
        param = f"{where}.content[{index}]"
        try:
            block = part_block(part)
        except UnsupportedContent as exc:
            raise UnsupportedContent(f"{param}: {exc}", param) from exc
        if block is not None:
            blocks.append(block)
            if traits.caching and "cache_control" in part:
                blocks.append(CACHE_POINT)
    return blocks


def part_block(part: dict[str, Any]) -> dict[str, Any] | None:
    kind = part.get("type")
    if kind == "text":
        return {"text": part["text"]} if part.get("text") else None
    if kind == "image_url":
        return {"image": image(part.get("image_url"))}
    if kind == "file":
        return {"document": document(part.get("file") or {})}
    return None  # audio and unknown parts: Converse has no block for them


def image(value: Any) -> dict[str, Any]:
    """Converse takes image bytes (base64 in JSON), never a URL to fetch."""
    match = _DATA_URL.match(image_url(value))
    if match is None:
        raise UnsupportedContent("Bedrock accepts images only as base64 data: URLs")
    fmt = IMAGE_FORMATS.get(match["fmt"].lower())
    if fmt is None:
        raise UnsupportedContent(f"Bedrock does not accept image/{match['fmt']} images")
    return {"format": fmt, "source": {"bytes": match["data"]}}


def document(file: dict[str, Any]) -> dict[str, Any]:
    """A ``file`` part as a Converse document (bytes, a format, a neutral name)."""
    if file.get("file_url"):
        raise UnsupportedContent(
            "Bedrock Converse does not fetch file_url documents: send file_data as a base64 "
            "data: URL"
        )
    match = DATA_URL.match(str(file.get("file_data") or ""))
    if match is None:
        raise UnsupportedContent("a file part needs file_data as a base64 data: URL")
    filename = str(file.get("filename") or "")
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    fmt = DOCUMENT_FORMATS.get(match["mime"].lower()) or _EXTENSIONS.get(extension)
    if fmt is None:
        raise UnsupportedContent(f"Bedrock does not accept {match['mime']} documents")
    name = document_name(filename.rsplit(".", 1)[0] if extension else filename)
    return {"format": fmt, "name": name, "source": {"bytes": match["data"]}}


def document_name(filename: str) -> str:
    """A name Converse accepts: refused characters become ``-``, whitespace single spaces."""
    name = " ".join(_NAME_REFUSED.sub("-", filename).split())[:200].strip()
    return name or "document"


# --- reasoning -----------------------------------------------------------------------


def reasoning_blocks(message: ChatMessage) -> list[dict[str, Any]]:
    """An assistant turn's Anthropic thinking blocks as Converse reasoning blocks."""
    blocks: list[dict[str, Any]] = []
    for block in message.thinking_blocks or []:
        if block.get("type") == "thinking":
            text: dict[str, Any] = {"text": str(block.get("thinking") or "")}
            if block.get("signature"):
                text["signature"] = block["signature"]
            blocks.append({"reasoningContent": {"reasoningText": text}})
        elif block.get("type") == "redacted_thinking":
            blocks.append({"reasoningContent": {"redactedContent": block.get("data") or ""}})
    return blocks


def parse_reasoning(content: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The reasoning text and the signed or redacted blocks (Anthropic's shape) of an answer."""
    texts: list[str] = []
    blocks: list[dict[str, Any]] = []
    for item in content:
        reasoning = item.get("reasoningContent")
        if not isinstance(reasoning, dict):
            continue
        if isinstance(text := reasoning.get("reasoningText"), dict):
            texts.append(str(text.get("text") or ""))
            if text.get("signature"):
                thinking = texts[-1]
                blocks.append(
                    {"type": "thinking", "thinking": thinking, "signature": text["signature"]}
                )
        elif reasoning.get("redactedContent"):
            blocks.append({"type": "redacted_thinking", "data": reasoning["redactedContent"]})
    return "".join(texts), blocks
