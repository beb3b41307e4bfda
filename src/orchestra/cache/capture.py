"""A streamed answer reassembled, as it is relayed, into the response it amounts to.

A streamed miss is stored like a buffered one, but only once it is known to be whole: a
finish reason seen, no error, the client still there (the relay's caller decides the last
two; :meth:`StreamCapture.response` the first). What is kept is what the client was sent
(after the output redaction), so a later hit serves exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestra.schemas.chat import (
    AssistantMessage,
    ChatChunk,
    ChatResponse,
    Choice,
    FunctionCall,
    ToolCall,
    Usage,
)


@dataclass
class _Call:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class _Choice:
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    calls: dict[int, _Call] = field(default_factory=dict)
    finish: str | None = None

    def message(self) -> AssistantMessage:
        calls = [
            ToolCall(id=c.id, function=FunctionCall(name=c.name, arguments="".join(c.arguments)))
            for _, c in sorted(self.calls.items())
        ]
        return AssistantMessage(
            content="".join(self.content) or None,
            tool_calls=calls or None,
            reasoning_content="".join(self.reasoning) or None,
        )


class StreamCapture:
    """Feed each relayed chunk (before it is handed on: readers may alter it), then ask
    for the :meth:`response` once the stream ended normally."""

    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.created = 0
        self.usage: Usage | None = None
        self._choices: dict[int, _Choice] = {}

    def feed(self, chunk: ChatChunk) -> None:
        if not self.id:
            self.id, self.model, self.created = chunk.id, chunk.model, chunk.created
        if chunk.usage is not None:
            self.usage = chunk.usage.model_copy()
        for choice in chunk.choices:
            into = self._choices.setdefault(choice.index, _Choice())
            delta = choice.delta
            if delta.content:
                into.content.append(delta.content)
            if delta.reasoning_content:
                into.reasoning.append(delta.reasoning_content)
            for call in delta.tool_calls or ():
                found = into.calls.setdefault(call.index, _Call())
                found.id = call.id or found.id
                function = call.function or {}
                found.name = function.get("name") or found.name
                if function.get("arguments"):
                    found.arguments.append(function["arguments"])
            if choice.finish_reason is not None:
                into.finish = choice.finish_reason

    def response(self) -> ChatResponse | None:
        """The answer, when every choice finished; None for a stream cut short."""
        if not self._choices or any(c.finish is None for c in self._choices.values()):
            return None
        choices = [
            Choice(index=index, message=c.message(), finish_reason=c.finish)  # type: ignore[arg-type]
            for index, c in sorted(self._choices.items())
        ]
        return ChatResponse(
            id=self.id or "chatcmpl-cached",
            created=self.created,
            model=self.model,
            choices=choices,
            usage=self.usage,
        )
