"""Structured output (``response_format``) for Anthropic Messages and Bedrock Converse,
through a reserved tool: the way that works on every Claude model (and on any Converse
model that takes tools).

``json_schema`` without tools of the request's own (or with ``tool_choice`` "none"): one
tool, :data:`JSON_TOOL`, whose input schema is the requested schema, forced; a schema whose
top level is not an object is wrapped as ``{"value": schema}`` (tool inputs are objects) and
unwrapped on the way back. Extended thinking refuses a forced tool: then the choice is
"auto" and a system instruction asks for the tool. With the request's own tools, nothing is
forced: a system instruction asks for the final answer as JSON matching the schema.
``json_object``: a system instruction only.

On the way back the reserved tool's input is the answer's text (``json.dumps`` of it,
unwrapped), not a tool call, and an answer that called only it finishes with "stop".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from orchestra.schemas.chat import ChatRequest, ChatResponse, FinishReason

#: the reserved tool's name
JSON_TOOL = "json_output"
DESCRIPTION = "Respond with the answer as JSON matching this schema"
JSON_OBJECT_INSTRUCTION = "Respond with a single JSON object and nothing else."
CALL_INSTRUCTION = f"Give your final answer by calling the {JSON_TOOL} tool."
SCHEMA_INSTRUCTION = (
    "When you give your final answer, respond with only JSON matching this JSON schema: "
)
#: the key a non-object schema's value travels under
WRAP_KEY = "value"


@dataclass(frozen=True)
class JsonPlan:
    """How one request asks for JSON: the reserved tool's ``schema`` (None: no tool), whether
    it is ``forced``, whether the schema was ``wrapped``, and a system ``instruction``."""

    schema: dict[str, Any] | None = None
    forced: bool = False
    wrapped: bool = False
    instruction: str | None = None

    def text(self, arguments: str) -> str:
        """The answer's text from the reserved tool's input (JSON), unwrapped if wrapped."""
        if not self.wrapped:
            return arguments or "{}"
        try:
            value = json.loads(arguments)
        except json.JSONDecodeError:
            return arguments  # a broken input is passed on as it came, never dropped
        if isinstance(value, dict) and WRAP_KEY in value:
            value = value[WRAP_KEY]
        return json.dumps(value)


def plan(request: ChatRequest, *, thinking_on: bool) -> JsonPlan | None:
    """The structured-output plan for ``request`` (None when it asks for none)."""
    native = request.native
    if native is not None and native.format == "anthropic":
        return None  # the client's own Anthropic body goes as it came
    fmt = request.response_format or {}
    if fmt.get("type") == "json_object":
        return JsonPlan(instruction=JSON_OBJECT_INSTRUCTION)
    if fmt.get("type") != "json_schema":
        return None
    schema = (fmt.get("json_schema") or {}).get("schema")
    schema = schema if isinstance(schema, dict) and schema else {"type": "object"}
    if _own_tools(request):
        compact = json.dumps(schema, separators=(",", ":"))
        return JsonPlan(instruction=SCHEMA_INSTRUCTION + compact)
    wrapped = schema.get("type") != "object"
    if wrapped:
        schema = {"type": "object", "properties": {WRAP_KEY: schema}, "required": [WRAP_KEY]}
    return JsonPlan(
        schema=schema,
        forced=not thinking_on,
        wrapped=wrapped,
        instruction=CALL_INSTRUCTION if thinking_on else None,
    )


def _own_tools(request: ChatRequest) -> bool:
    functions = [t for t in request.tools or [] if t.get("type") == "function"]
    return bool(functions) and request.tool_choice != "none"


def answer(response: ChatResponse, json_plan: JsonPlan | None) -> ChatResponse:
    """``response`` with the reserved tool's call made its text (only when one was sent)."""
    if json_plan is None or json_plan.schema is None:
        return response
    for choice in response.choices:
        calls = choice.message.tool_calls or []
        mine = [c for c in calls if c.function.name == JSON_TOOL]
        if not mine:
            continue
        rest = [c for c in calls if c.function.name != JSON_TOOL]
        choice.message.content = json_plan.text(mine[0].function.arguments)
        choice.message.tool_calls = rest or None
        if not rest and choice.finish_reason == "tool_calls":
            choice.finish_reason = "stop"
    return response


@dataclass
class JsonStream:
    """The reserved tool's blocks in one stream, turned into text pieces."""

    json_plan: JsonPlan | None
    blocks: dict[int, list[str]] = field(default_factory=dict)  # block index -> input pieces

    def claims(self, index: int, name: str) -> bool:
        """Whether a tool block starting at ``index`` is the reserved tool's (then it is text)."""
        if self.json_plan is None or self.json_plan.schema is None or name != JSON_TOOL:
            return False
        self.blocks[index] = []
        return True

    def piece(self, index: int, fragment: str) -> str | None:
        """The text to send now for an input piece (a wrapped value waits for the end)."""
        self.blocks[index].append(fragment)
        wrapped = self.json_plan is not None and self.json_plan.wrapped
        return None if wrapped or not fragment else fragment

    def close(self, index: int) -> str | None:
        """The text to send at the block's end: the unwrapped value, or ``{}`` for no input."""
        pieces = self.blocks.get(index)
        if pieces is None or self.json_plan is None:
            return None
        if self.json_plan.wrapped:
            return self.json_plan.text("".join(pieces))
        return None if "".join(pieces) else "{}"

    def finish(self, reason: FinishReason, other_tools: bool) -> FinishReason:
        """ "stop" for an answer that called the reserved tool and no other."""
        if self.blocks and not other_tools and reason == "tool_calls":
            return "stop"
        return reason


def with_instruction(
    system: str | list[dict[str, Any]] | None, instruction: str
) -> str | list[dict[str, Any]]:
    """Anthropic's ``system`` (a string or text blocks) with ``instruction`` after it."""
    if system is None or system == "":
        return instruction
    if isinstance(system, str):
        return f"{system}\n\n{instruction}"
    return [*system, {"type": "text", "text": instruction}]
