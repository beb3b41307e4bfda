"""OpenAI Responses, inbound: ``POST /v1/responses`` as the OpenAI SDK, Codex and the Agents
SDK send it, parsed into the internal chat request (errors are OpenAI's shape, as for chat).

The input items become chat messages (:mod:`.responses_items`); ``instructions`` becomes a
system message of this turn only (OpenAI does not carry it to the next turn); the flat
function tools, ``tool_choice``, ``text.format`` and ``reasoning`` become their chat
equivalents. Built-in tools (web search, file search, code interpreter, MCP...) stay in the
native body only: the chat request carries the function tools, and its native body names the
built-in ones, so the router sends it only to a provider that runs them (OpenAI, over its own
Responses API); when none is configured the request is a 400 naming ``tools[i].type``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestra.errors import InvalidRequest
from orchestra.formats.json_body import json_object
from orchestra.formats.responses_items import input_messages
from orchestra.schemas.chat import ChatMessage, ChatRequest, NativeBody

NATIVE_FORMAT = "openai-responses"
#: Responses fields refused outright: the gateway has nothing that does what they ask
UNSUPPORTED = {
    "background": "background responses are not supported: send the request without it",
    "conversation": "conversations are not supported: use previous_response_id",
    "prompt": "stored prompt templates are not supported: send the input itself",
}
#: Responses fields that mean the same in chat completions, forwarded as they are
PASSED_THROUGH = ("user", "safety_identifier", "prompt_cache_key", "service_tier", "seed")


class ResponsesRequest(BaseModel):
    """The ``POST /v1/responses`` body (fields the gateway does not use are kept as extras)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    input: str | list[dict[str, Any]] | None = None
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    metadata: dict[str, str] | None = None
    parallel_tool_calls: bool | None = None
    store: bool = True
    previous_response_id: str | None = None
    stream: bool = False
    # Orchestra extensions, as on chat completions
    fallbacks: list[str] | None = Field(default=None, max_length=16)
    profile: str | None = None


@dataclass(frozen=True)
class Inbound:
    """A parsed Responses request: the body as sent, its fields, the messages of this turn's
    input, and the chat fields it maps to (everything but the messages)."""

    body: dict[str, Any]
    request: ResponsesRequest
    new_messages: list[ChatMessage]
    chat_fields: dict[str, Any]
    #: ``(index in tools, type)`` of the built-in tools
    builtin_tools: tuple[tuple[int, str], ...] = ()

    def chat(self, history: list[ChatMessage]) -> ChatRequest:
        """The chat request of this turn after ``history`` (a stored conversation)."""
        messages = [*history, *self.new_messages]
        if not messages:
            raise InvalidRequest("Missing required parameter: 'input'", param="input")
        if self.request.instructions:
            messages.insert(0, ChatMessage(role="system", content=self.request.instructions))
        chat = ChatRequest(messages=messages, **self.chat_fields)
        native = NativeBody(format=NATIVE_FORMAT, body=self.body, builtin_tools=self.builtin_tools)
        return chat.with_native(native)


def parse_responses_request(raw: bytes) -> Inbound:
    """A ``POST /v1/responses`` body, checked and translated; a bad one is a 400 naming the
    offending field (``param``)."""
    body = json_object(raw)
    for name, why in UNSUPPORTED.items():
        if body.get(name):
            raise InvalidRequest(why, param=name, code="unsupported_parameter")
    try:
        request = ResponsesRequest.model_validate(body)
    except ValidationError as exc:
        raise _invalid(exc) from exc
    new_messages = input_messages(request.input)
    builtin = builtin_tools(request.tools)
    return Inbound(body, request, new_messages, chat_fields(request), builtin)


def _invalid(exc: ValidationError) -> InvalidRequest:
    """The first pydantic error as a 400 naming its field (``input``, ``tools.0``...)."""
    first = exc.errors()[0]
    param = ".".join(str(part) for part in first["loc"]) or None
    if first["type"] == "missing":
        return InvalidRequest(f"Missing required parameter: '{param}'", param=param)
    message = str(first["msg"]).removeprefix("Value error, ")
    return InvalidRequest(
        f"Invalid value for '{param}': {message}", param=param, code="invalid_value"
    )


def chat_fields(request: ResponsesRequest) -> dict[str, Any]:
    """The chat request's fields besides its messages."""
    fields: dict[str, Any] = {
        "model": request.model,
        "stream": request.stream,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_completion_tokens": request.max_output_tokens,
        "tools": chat_tools(request.tools),
        "tool_choice": chat_tool_choice(request.tool_choice, bool(builtin_tools(request.tools))),
        "fallbacks": request.fallbacks,
        "profile": request.profile,
    }
    if request.parallel_tool_calls is not None and request.tools:
        fields["parallel_tool_calls"] = request.parallel_tool_calls
    fields.update(_text_options(request.text))
    effort = (request.reasoning or {}).get("effort")
    if effort is not None:
        if not isinstance(effort, str):
            raise InvalidRequest("reasoning.effort must be a string", param="reasoning.effort")
        fields["reasoning_effort"] = effort
    extras = request.model_extra or {}
    fields.update({name: extras[name] for name in PASSED_THROUGH if extras.get(name) is not None})
    return {name: value for name, value in fields.items() if value is not None}


def builtin_tools(tools: list[dict[str, Any]] | None) -> tuple[tuple[int, str], ...]:
    """``(index, type)`` of every tool that is not a function tool (the upstream runs it)."""
    found = []
    for i, tool in enumerate(tools or []):
        kind = tool.get("type")
        if kind != "function":
            if not isinstance(kind, str) or not kind:
                raise InvalidRequest(
                    f"Missing required parameter: 'tools[{i}].type'", param=f"tools[{i}].type"
                )
            found.append((i, kind))
    return tuple(found)


def chat_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Responses' flat function tools as chat tools (built-in tools are left out: they stay
    in the native body)."""
    converted = []
    for i, tool in enumerate(tools or []):
        if tool.get("type") != "function":
            continue
        spec = tool["function"] if isinstance(tool.get("function"), dict) else tool  # chat shape
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequest(
                f"Missing required parameter: 'tools[{i}].name'", param=f"tools[{i}].name"
            )
        function = {"name": name}
        for key in ("description", "parameters", "strict"):
            if spec.get(key) is not None:
                function[key] = spec[key]
        converted.append({"type": "function", "function": function})
    return converted or None


def chat_tool_choice(
    choice: str | dict[str, Any] | None, builtin: bool = False
) -> str | dict[str, Any] | None:
    """The chat ``tool_choice``; with built-in tools, a choice naming one (or any other
    Responses-only choice) stays in the native body only."""
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = choice.get("name") or (choice.get("function") or {}).get("name")
        if isinstance(name, str) and name:
            return {"type": "function", "function": {"name": name}}
    if builtin and isinstance(choice, dict) and isinstance(choice.get("type"), str):
        return None
    raise InvalidRequest(
        'tool_choice must be "auto", "none", "required" or {"type": "function", "name": ...}',
        param="tool_choice",
        code="invalid_value",
    )


def _text_options(text: dict[str, Any] | None) -> dict[str, Any]:
    """``text.format`` as chat's ``response_format``; ``text.verbosity`` as it is."""
    if not text:
        return {}
    options: dict[str, Any] = {}
    if text.get("verbosity") is not None:
        options["verbosity"] = text["verbosity"]
    form = text.get("format")
    if form is None:
        return options
    kind = form.get("type") if isinstance(form, dict) else None
    if kind == "json_object":
        options["response_format"] = {"type": "json_object"}
    elif kind == "json_schema":
        options["response_format"] = {"type": "json_schema", "json_schema": _json_schema(form)}
    elif kind != "text":
        raise InvalidRequest(
            'text.format.type must be "text", "json_schema" or "json_object"',
            param="text.format.type",
            code="invalid_value",
        )
    return options


def _json_schema(form: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(form.get("schema"), dict):
        raise InvalidRequest(
            "Missing required parameter: 'text.format.schema'", param="text.format.schema"
        )
    schema: dict[str, Any] = {"name": form.get("name") or "response", "schema": form["schema"]}
    for key in ("strict", "description"):
        if form.get(key) is not None:
            schema[key] = form[key]
    return schema
