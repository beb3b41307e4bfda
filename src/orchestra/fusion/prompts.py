"""The judge's and the synthesiser's prompts, and reading the judge's verdict.

Candidates are shown anonymously ("Answer 1", "Answer 2"...) so a judge cannot favour a
vendor by name; each is cut to :data:`ANSWER_CHARS` and the conversation to its last
:data:`CONVERSATION_CHARS`, so the auxiliary call stays small whatever the answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from orchestra.markers import candidate_block, conversation_block
from orchestra.schemas.chat import ChatMessage, ChatRequest

ANSWER_CHARS = 6_000
CONVERSATION_CHARS = 12_000
JUDGE_MAX_TOKENS = 400
SYNTHESIS_MAX_TOKENS = 2_048

JUDGE_SYSTEM = (
    "You are an impartial judge. You are given a conversation and several candidate "
    "answers to its last message. Pick the single best answer: correct first, then "
    "complete, clear and concise. Do not favour length. Reply with JSON only: "
    '{"best": <answer number>, "reason": "<one or two sentences>"}'
)
SYNTHESIS_SYSTEM = (
    "You merge several candidate answers to the last message of a conversation into one "
    "answer. Keep what the answers agree on, resolve disagreements by correctness, and "
    "mention a disagreement that remains open. Reply with the merged answer only, "
    "written directly to the user."
)


def _cut(text: str, limit: int, *, keep_end: bool = False) -> str:
    if len(text) <= limit:
        return text
    return "[...]" + text[-limit:] if keep_end else text[:limit] + "[...]"


def conversation_text(messages: Sequence[ChatMessage]) -> str:
    lines = [f"{m.role.upper()}: {m.text()}" for m in messages if m.text()]
    return _cut("\n\n".join(lines), CONVERSATION_CHARS, keep_end=True)


def _candidates(answers: Sequence[str]) -> str:
    return "\n\n".join(
        candidate_block(i, _cut(text.strip(), ANSWER_CHARS)) for i, text in enumerate(answers, 1)
    )


def instructed(
    model: str, system: str, user: str, *, temperature: float, max_tokens: int
) -> ChatRequest:
    """An auxiliary call: a system instruction and one user message."""
    return ChatRequest(
        model=model,
        messages=[
            ChatMessage(role="system", content=system),
            ChatMessage(role="user", content=user),
        ],
        temperature=temperature,
        max_tokens=max_tokens,
    )


def _about(messages: Sequence[ChatMessage], answers: Sequence[str], ask: str) -> str:
    conversation = conversation_text(messages)
    return f"{conversation_block(conversation)}\n\n{_candidates(answers)}\n\n{ask}"


def judge_request(messages: Sequence[ChatMessage], answers: Sequence[str]) -> ChatRequest:
    user = _about(messages, answers, "Which answer is best? Reply with JSON only.")
    return instructed("judge", JUDGE_SYSTEM, user, temperature=0, max_tokens=JUDGE_MAX_TOKENS)


def synthesis_request(
    messages: Sequence[ChatMessage], answers: Sequence[str], max_tokens: int | None
) -> ChatRequest:
    user = _about(messages, answers, "Write the merged answer.")
    limit = max_tokens or SYNTHESIS_MAX_TOKENS
    return instructed("synthesizer", SYNTHESIS_SYSTEM, user, temperature=0.2, max_tokens=limit)


@dataclass(frozen=True)
class Verdict:
    index: int  # 0-based
    reason: str


_JSON_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)
_BEST = re.compile(r"\"?best\"?\s*[:=]\s*\"?(\d+)", re.IGNORECASE)
_ANSWER_N = re.compile(r"\banswer\s*(?:number\s*)?#?(\d+)\b", re.IGNORECASE)


def parse_verdict(text: str, count: int) -> Verdict | None:
    """The judge's pick from JSON (fenced or not), or a plain "best: 2" / "Answer 2"."""
    for raw in _JSON_OBJECT.findall(text or ""):
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if isinstance(data, dict) and "best" in data:
            verdict = _verdict(data.get("best"), data.get("reason"), count)
            if verdict is not None:
                return verdict
    for pattern in (_BEST, _ANSWER_N):
        found = {int(n) for n in pattern.findall(text or "")}
        if len(found) == 1:
            return _verdict(found.pop(), text.strip(), count)
    return None


def _verdict(best: object, reason: object, count: int) -> Verdict | None:
    try:
        number = int(str(best).strip())
    except ValueError:
        return None
    if not 1 <= number <= count:
        return None
    return Verdict(number - 1, str(reason or "").strip()[:1000])
