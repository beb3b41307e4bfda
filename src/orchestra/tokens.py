"""Cheap token estimates: good enough to filter by context window, no tokenizer download."""

from __future__ import annotations

import json

from orchestra.schemas.chat import ChatRequest

#: English prose averages about 4 characters per token across the major tokenizers;
#: we lean a little high so a borderline prompt goes to a model with room to spare.
CHARS_PER_TOKEN = 3.6
PER_MESSAGE_OVERHEAD = 4
IMAGE_TOKENS = 800


def estimate_text_tokens(text: str) -> int:
    return int(len(text) / CHARS_PER_TOKEN) + 1 if text else 0


def estimate_prompt_tokens(request: ChatRequest) -> int:
    total = 3
    for message in request.messages:
        total += PER_MESSAGE_OVERHEAD + estimate_text_tokens(message.text())
        if message.has_images():
            total += IMAGE_TOKENS * sum(
                1
                for p in message.content or []
                if isinstance(p, dict) and p.get("type") == "image_url"
            )
        if message.tool_calls:
            total += estimate_text_tokens(json.dumps([c.model_dump() for c in message.tool_calls]))
    if request.tools:
        total += estimate_text_tokens(json.dumps(request.tools))
    return total
