"""What each participant and the judge are asked, and reading a revision's stance.

Round 1: the conversation, answered independently. Round r > 1: the question, the
participant's own previous answer and the others' latest answers (each summarised when
long: its opening and its final answer), and the instruction to revise and to say first
whether it changed its mind and why. The judge sees the question and the last round.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from orchestra.fusion.answers import normalize
from orchestra.fusion.prompts import conversation_text, instructed
from orchestra.markers import SYNTHESIS_MARK, debater_block, your_answer_block
from orchestra.schemas.chat import ChatMessage, ChatRequest
from orchestra.schemas.debate import Debate, Turn

#: the others' answers are cut to this many characters (opening + final answer)
SUMMARY_CHARS = 1_500
SYNTHESIS_MAX_TOKENS = 1_500

RULES = (
    "You are one of several AI models debating a question to reach the best answer. "
    "Be concise and precise. End your reply with a line 'Final answer: <answer>'."
)
REVISE = (
    "Here are the other participants' latest answers. Reconsider yours in their light: keep "
    "it if you still think it is right, change it if they convinced you. Begin your reply "
    "with one line 'CHANGED: yes' or 'CHANGED: no', followed by one sentence saying why."
)
SYNTHESIS = (
    "You are the judge of a debate between AI models. Write the final answer to the "
    "question from the last round of the debate. Then add a line 'Rationale:' with a short "
    "justification, and, if any participant still disagrees, a line 'Dissent:' saying who "
    "and why."
)
_CHANGED = re.compile(r"^\s*\**CHANGED:?\**\s*(yes|no)\b\**[ \t.:,;-]*(.*)$", re.I | re.M)


def summarise(text: str, limit: int = SUMMARY_CHARS) -> str:
    """A long answer as its opening and its final answer; short answers unchanged."""
    text = text.strip()
    if len(text) <= limit:
        return text
    final = normalize(text).final or text[-300:]
    head = text[: max(limit - len(final) - 20, 200)]
    return f"{head} [...] {final}"


def _system(debate: Debate, participant: str) -> ChatMessage:
    rules = RULES
    if debate.roles:
        role = debate.roles[debate.participants.index(participant)]
        rules = f"{RULES} Argue as {role}."
    return ChatMessage(role="system", content=rules)


def turn_request(debate: Debate, round_no: int, participant: str) -> ChatRequest:
    messages = [_system(debate, participant)]
    if round_no == 1:
        messages += debate.question
    else:
        messages.append(ChatMessage(role="user", content=_revision(debate, round_no, participant)))
    return ChatRequest(
        model=participant,
        messages=messages,
        max_tokens=debate.max_tokens,
        temperature=debate.temperature,
    )


def _revision(debate: Debate, round_no: int, participant: str) -> str:
    previous = {t.participant: t for t in debate.turns_of(round_no - 1) if t.answer}
    own = previous.get(participant)
    others = [t for name, t in previous.items() if name != participant]
    blocks = "\n\n".join(
        debater_block(f"participant {i}", summarise(t.answer or ""))
        for i, t in enumerate(others, 1)
    )
    mine = summarise(own.answer or "") if own and own.answer else "(you gave no answer)"
    return (
        f"<question>\n{conversation_text(debate.question)}\n</question>\n\n"
        f"{your_answer_block(mine)}\n\n{blocks}\n\n{REVISE}"
    )


def read_stance(text: str) -> tuple[bool | None, str | None, str]:
    """(changed, why, the answer without the CHANGED line) from a revision."""
    match = _CHANGED.search(text)
    if match is None:
        return None, None, text.strip()
    answer = (text[: match.start()] + text[match.end() :]).strip()
    return match[1].lower() == "yes", match[2].strip() or None, answer


def synthesis_request(debate: Debate, last: Sequence[Turn], agreement: float) -> ChatRequest:
    blocks = "\n\n".join(
        debater_block(t.participant, summarise(t.answer or "", 4 * SUMMARY_CHARS)) for t in last
    )
    user = (
        f"<question>\n{conversation_text(debate.question)}\n</question>\n\n"
        f"{SYNTHESIS_MARK} after round {last[0].round if last else 0} with "
        f"{agreement:.0%} agreement. The last round:\n\n{blocks}"
    )
    return instructed(
        debate.judge, SYNTHESIS, user, temperature=0.2, max_tokens=SYNTHESIS_MAX_TOKENS
    )
