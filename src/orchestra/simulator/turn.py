"""One simulated assistant turn: reasoning, then a tool call or a text (or JSON) answer.

What the request asks for decides the shape, deterministically:

- ``tools`` offered, ``tool_choice`` not ``"none"`` and the user spoke last: a tool call
  (:mod:`orchestra.simulator.tools`); a tool's result spoke last: a text answer reporting it;
- ``thinking`` enabled or a ``reasoning_effort`` (other than ``minimal``/``none``): reasoning
  first, as a signed thinking block (the signature is a digest, base64, like Anthropic's);
- ``response_format`` ``json_schema``: JSON valid against the schema, its strings the answer
  text; ``json_object``: ``{"answer": <text>}``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from orchestra.schemas.chat import ChatRequest, FinishReason, FunctionCall, ToolCall, Usage
from orchestra.simulator.engine import SimulatorEngine
from orchestra.simulator.schema_values import SchemaValues
from orchestra.simulator.tools import answered_results, arguments, chosen_tool, wants_tool_call
from orchestra.tokens import estimate_text_tokens


@dataclass(frozen=True)
class Turn:
    """The answer to one request; ``text`` is None when the turn is a tool call."""

    text: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning: str | None = None
    signature: str | None = None

    @property
    def finish_reason(self) -> FinishReason:
        return "tool_calls" if self.tool_calls else "stop"

    def thinking_blocks(self) -> list[dict[str, Any]] | None:
        if self.reasoning is None:
            return None
        return [{"type": "thinking", "thinking": self.reasoning, "signature": self.signature}]

    def usage(self, prompt_tokens: int) -> Usage:
        reasoning = estimate_text_tokens(self.reasoning or "")
        answer = estimate_text_tokens(self.text or "") + sum(
            estimate_text_tokens(c.function.name + c.function.arguments) for c in self.tool_calls
        )
        return Usage.of(prompt_tokens, answer + reasoning, reasoning=reasoning)


def wants_reasoning(request: ChatRequest) -> bool:
    if (request.thinking or {}).get("type") == "enabled":
        return True
    return request.reasoning_effort not in (None, "minimal", "none")


def structured(response_format: dict[str, Any] | None, text: str) -> str:
    """The answer in the shape ``response_format`` asks for."""
    kind = (response_format or {}).get("type")
    if kind == "json_object":
        return json.dumps({"answer": text})
    if kind == "json_schema":
        spec = (response_format or {}).get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return json.dumps(SchemaValues(schema or {}, lambda _name: text).value())
    return text


class TurnPlanner:
    """Plans turns with the engine's seed, so ids and signatures repeat with it."""

    def __init__(self, engine: SimulatorEngine) -> None:
        self.engine = engine

    def _digest(self, size: int, *parts: str) -> bytes:
        joined = "\x1f".join((str(self.engine.seed), *parts)).encode()
        return hashlib.blake2b(joined, digest_size=size).digest()

    def plan(self, model: str, request: ChatRequest) -> Turn:
        question = next((m.text() for m in reversed(request.messages) if m.role == "user"), "")
        if wants_tool_call(request):
            tool = chosen_tool(request, question)
            args = json.dumps(arguments(tool, question))
            history = "\x1e".join(m.text() for m in request.messages)
            call_id = "call_" + self._digest(12, model, history, str(len(request.messages))).hex()
            call = ToolCall(id=call_id, function=FunctionCall(name=tool["name"], arguments=args))
            thought = f"The request fits the tool {tool['name']}; I will call it with {args}."
            return self._with_reasoning(model, request, Turn(None, [call]), thought)
        if request.messages[-1].role == "tool":
            text = answered_results(request.messages)
        else:
            text = self.engine.answer(model, request)
        thought = f"Considering {question.strip()[:200]!r}, I will answer: {text}"
        turn = Turn(structured(request.response_format, text))
        return self._with_reasoning(model, request, turn, thought)

    def _with_reasoning(self, model: str, request: ChatRequest, turn: Turn, thought: str) -> Turn:
        if not wants_reasoning(request):
            return turn
        signature = base64.b64encode(self._digest(48, model, "signature", thought)).decode()
        return Turn(turn.text, turn.tool_calls, thought, signature)
