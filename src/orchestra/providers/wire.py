"""Pieces of wire mapping that several vendors share: tool arguments as an object, image
URLs, and merging a conversation into the strictly alternating turns most APIs require."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from orchestra.schemas.chat import ChatMessage

#: an inline image: ``data:<mime>;base64,<data>``
DATA_URL = re.compile(r"^data:(?P<mime>[\w/+.-]+);base64,(?P<data>.+)$", re.DOTALL)


class ErrorReading(NamedTuple):
    """What a vendor's error answer says, before it becomes a typed error (one place:
    :meth:`~orchestra.providers.http_provider.HttpProvider.map_error`)."""

    status: int
    message: str
    code: str | None = None
    context_length: bool = False
    retry_after: float | None = None


class UnsupportedContent(ValueError):
    """A request part the vendor cannot take (the adapter raises it as a client error);
    ``param`` names the part, e.g. ``messages[2].content[1]``."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


Blocks = Callable[[ChatMessage], list[dict[str, Any]]]


def json_object(arguments: str) -> dict[str, Any]:
    """A tool call's JSON arguments as an object; anything else (or broken JSON) is ``{}``."""
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def image_url(image: Any) -> str:
    """The URL of an OpenAI ``image_url`` part's value (an object with ``url``, or a string)."""
    return image.get("url", "") if isinstance(image, dict) else str(image or "")


def alternating_turns(
    messages: list[ChatMessage],
    blocks: Blocks,
    *,
    assistant: str = "assistant",
    key: str = "content",
) -> list[dict[str, Any]]:
    """User/assistant turns without system messages: tool results are user turns, a run of
    same-role messages is merged into one turn, and messages with nothing to send vanish."""
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role in ("system", "developer"):
            continue
        role = assistant if message.role == "assistant" else "user"
        content = blocks(message)
        if not content:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1][key].extend(content)
        else:
            turns.append({"role": role, key: content})
    return turns
