"""The simulator's tool use: which tool to call, with which arguments, and the text answer
to a tool's result.

The tool is the one ``tool_choice`` names, else the first whose name or description shares a
word with the user's last message, else the first; its arguments fill the required
properties of its ``parameters`` schema (:mod:`orchestra.simulator.schema_values`), strings
from the words of the user's message.
"""

from __future__ import annotations

import re
from typing import Any

from orchestra.schemas.chat import ChatMessage, ChatRequest
from orchestra.simulator.schema_values import SchemaValues

#: words too common to say a tool fits a message
STOP_WORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "could",
        "do",
        "for",
        "from",
        "get",
        "give",
        "how",
        "i",
        "in",
        "is",
        "it",
        "me",
        "my",
        "of",
        "on",
        "or",
        "please",
        "set",
        "show",
        "tell",
        "that",
        "the",
        "this",
        "to",
        "use",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    }
)


def words(text: str) -> list[str]:
    """Lower-case words, ``snake_case`` and ``camelCase`` split."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    return [w.lower() for w in re.findall(r"[A-Za-z0-9]+", spaced)]


def keywords(text: str, *, lower: bool = True) -> list[str]:
    """The words that say something (no stop words, no single letters)."""
    found = words(text) if lower else re.findall(r"[A-Za-z0-9]+", text)
    return [w for w in found if len(w) > 1 and w.lower() not in STOP_WORDS]


def functions(request: ChatRequest) -> list[dict[str, Any]]:
    """The request's function tools (``{"name", "description"?, "parameters"?}``)."""
    found = []
    for tool in request.tools or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            found.append(function)
    return found


def wants_tool_call(request: ChatRequest) -> bool:
    """A tool is called when tools are offered, allowed, and the user spoke last."""
    return (
        bool(functions(request))
        and request.tool_choice != "none"
        and request.messages[-1].role == "user"
    )


def chosen_tool(request: ChatRequest, question: str) -> dict[str, Any]:
    tools = functions(request)
    choice = request.tool_choice
    if isinstance(choice, dict):
        named = (choice.get("function") or {}).get("name") or choice.get("name")
        for tool in tools:
            if tool["name"] == named:
                return tool
    asked = set(keywords(question))
    for tool in tools:
        if asked & set(keywords(f"{tool['name']} {tool.get('description', '')}")):
            return tool
    return tools[0]


def arguments(tool: dict[str, Any], question: str) -> dict[str, Any]:
    """Arguments that validate against the tool's ``parameters``."""
    schema = tool.get("parameters")
    if not isinstance(schema, dict):
        return {}
    phrase = " ".join(keywords(question, lower=False)[:4])
    value = SchemaValues(schema, lambda name: phrase or name).value()
    return value if isinstance(value, dict) else {}


def answered_results(messages: list[ChatMessage]) -> str:
    """``The result of <tool> is <content>.`` for each trailing tool message."""
    names = {
        call.id: call.function.name
        for message in messages
        if message.role == "assistant"
        for call in message.tool_calls or []
    }
    trailing: list[ChatMessage] = []
    for message in reversed(messages):
        if message.role != "tool":
            break
        trailing.insert(0, message)
    lines = [
        f"The result of {names.get(m.tool_call_id or '', m.name or 'the tool')} is "
        f"{m.text().strip()}."
        for m in trailing
    ]
    return " ".join(lines)
