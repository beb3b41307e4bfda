"""Request-body JSON Schemas for the OpenAPI document that say what the validators say.

pydantic's schemas give each field's type and range; the rules between fields (either
``question`` or ``messages``, one role per participant, ``judge`` only for strategy
``judge``...) live in model validators, which a JSON Schema does not show. These builders
add them, so that a body valid per the document is one the validators accept and a body
the validators refuse is invalid per the document. What depends on the deployment (the
catalog, the configured providers, ``multi_max_models``) stays out: those refusals are
400s with code ``invalid_request`` or ``no_candidates``, or 404s for unknown ids.

"Absent" below means absent or null: ``{"properties": {"x": {"type": "null"}}}``.

Each builder imports the wire models of its own route, so the functions that serve none
of them (generate serves chat only) do not load debate or multi-generate models.
"""

from __future__ import annotations

from typing import Any

from orchestra.routing.profiles import PROFILES
from orchestra.schemas.chat import CHAT_PARAMETERS, ChatRequest

Json = dict[str, Any]

NULL: Json = {"type": "null"}
PROFILE: Json = {"anyOf": [{"type": "string", "enum": [*PROFILES]}, NULL], "default": None}
#: what ``model`` may be in a multi-generate body that names no ``models``
ROUTED_MODELS = ["auto", *(f"auto:{p}" for p in PROFILES), *PROFILES]
MAX_FANOUT = 16  # MultiOptions' own bounds on models / count


def _absent(*names: str) -> Json:
    return {"properties": {name: NULL for name in names}}


def _strings(low: int, high: int) -> Json:
    return {
        "type": "array",
        "items": {"type": "string"},
        "minItems": low,
        "maxItems": high,
        "uniqueItems": True,
    }


def chat_request() -> Json:
    """``POST /v1/chat/completions``: at most 4 stop sequences, ``profile`` one of the profiles."""
    schema = ChatRequest.model_json_schema()
    props = schema["properties"]
    props["stop"] = {
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}, "maxItems": 4},
            NULL,
        ],
        "default": None,
    }
    props["profile"] = PROFILE
    return schema


def debate_request() -> Json:
    """``POST /v1/debates``, with the rules of ``DebateRequest._consistent``."""
    from orchestra.schemas.debate import MAX_PARTICIPANTS, DebateRequest

    schema = DebateRequest.model_json_schema()
    props = schema["properties"]
    props["participants"] = {
        "anyOf": [
            _strings(2, MAX_PARTICIPANTS),
            {"type": "integer", "minimum": 2, "maximum": MAX_PARTICIPANTS},
        ],
        "default": 3,
    }
    props["profile"] = PROFILE
    schema["allOf"] = [
        {
            "oneOf": [
                {
                    "required": ["question"],
                    "properties": {"question": {"type": "string"}, "messages": NULL},
                },
                {
                    "required": ["messages"],
                    "properties": {"messages": {"type": "array"}, "question": NULL},
                },
            ]
        },
        {"anyOf": [_absent("profile"), {"properties": {"participants": {"type": "integer"}}}]},
        {"anyOf": _one_role_each(props["participants"]["default"])},
    ]
    return schema


def _one_role_each(default: int) -> list[Json]:
    """No ``roles``, or as many as the participants (given as a list, a count, or not)."""
    from orchestra.schemas.debate import MAX_PARTICIPANTS

    branches: list[Json] = [_absent("roles")]
    for k in range(2, MAX_PARTICIPANTS + 1):
        given = {"anyOf": [{"const": k}, {"type": "array", "minItems": k, "maxItems": k}]}
        roles = {"type": "array", "minItems": k, "maxItems": k}
        branches.append(
            {
                "required": ["participants", "roles"],
                "properties": {"participants": given, "roles": roles},
            }
        )
    branches.append(
        {
            "not": {"required": ["participants"]},
            "required": ["roles"],
            "properties": {"roles": {"type": "array", "minItems": default, "maxItems": default}},
        }
    )
    return branches


def multi_generate_request() -> Json:
    """``POST /v1/multi-generate``: a chat body (``model`` optional) plus the fan-out options,
    with the rules of ``MultiOptions._consistent`` and of the service (no tools, ``model``
    routed unless ``models`` names them); any other field is refused (``unknown_parameter``)
    unless it is a chat-completion parameter, forwarded to the models."""
    from orchestra.schemas.multi import MultiOptions

    chat, options = chat_request(), MultiOptions.model_json_schema()
    props = {**chat["properties"], **options["properties"]}
    for name in sorted(CHAT_PARAMETERS - props.keys()):
        props[name] = {"description": "a chat-completion parameter, forwarded to the models"}
    props["profile"] = PROFILE
    props["models"] = {"anyOf": [_strings(1, MAX_FANOUT), NULL], "default": None}
    props["stream"] = {
        "type": "boolean",
        "default": False,
        "description": "server-sent events: a comment as each model finishes, then the answer",
    }
    props["tools"] = {"anyOf": [{"type": "array", "maxItems": 0}, NULL], "default": None}
    props["quorum"] = {
        "anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_FANOUT}, NULL],
        "default": None,
        "description": "Stop once this many answers agree (vote) or arrived: at most as many "
        "as the models asked for",
    }
    props["model"] = {"type": "string", "minLength": 1, "maxLength": 256, "default": "auto"}
    return {
        "title": "MultiGenerateRequest",
        "description": "A chat completion body plus what to fan out to and how to fuse",
        "type": "object",
        "properties": props,
        "required": ["messages"],
        "additionalProperties": False,
        "$defs": {**chat.get("$defs", {}), **options.get("$defs", {})},
        # few branches in all: generators expand every combination of them
        "allOf": [{"anyOf": _selection()}, {"anyOf": _strategies()}],
    }


def _selection() -> list[Json]:
    """``models`` named (then no ``count`` or ``profile``), or ``model`` a routed one."""
    named = {
        "required": ["models"],
        "properties": {"models": {"type": "array"}, **_absent("count", "profile")["properties"]},
    }
    return [
        named,
        {**_absent("models"), "properties": {"models": NULL, "model": {"enum": ROUTED_MODELS}}},
    ]


def _strategies() -> list[Json]:
    """``judge`` only for strategy judge, ``synthesizer`` only for merge, quorum 1 for first."""
    return [
        {
            "required": ["strategy"],
            "properties": {"strategy": {"const": "judge"}, "synthesizer": NULL},
        },
        {"required": ["strategy"], "properties": {"strategy": {"const": "merge"}, "judge": NULL}},
        {
            "required": ["strategy"],
            "properties": {
                "strategy": {"const": "first"},
                "judge": NULL,
                "synthesizer": NULL,
                "quorum": {"anyOf": [NULL, {"const": 1}]},
            },
        },
        {
            "properties": {
                "strategy": {"enum": ["vote", "rank"]},
                "judge": NULL,
                "synthesizer": NULL,
            }
        },
    ]


def embedding_request() -> Json:
    """``POST /v1/embeddings``: text input only (a non-empty string, or 1-2048 of them)."""
    from orchestra.schemas.embeddings import MAX_INPUTS, EmbeddingRequest

    schema = EmbeddingRequest.model_json_schema()
    text = {"type": "string", "minLength": 1}
    schema["properties"]["input"] = {
        "anyOf": [text, {"type": "array", "items": text, "minItems": 1, "maxItems": MAX_INPUTS}]
    }
    return schema


#: a streamed answer, documented per server-sent event (what a client's SSE parser yields)
SSE_EVENT: Json = {
    "type": "object",
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string", "description": "JSON, or [DONE] after a complete answer"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
}
SSE_RESPONSE: dict[int | str, Json] = {
    200: {"content": {"text/event-stream": {"schema": SSE_EVENT}}}
}
