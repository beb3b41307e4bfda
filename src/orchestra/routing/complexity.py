"""A prompt-complexity classifier: simple / medium / complex, from cheap text features.

No model call and no I/O: it runs on every ``auto`` request, so it must cost microseconds.
Signals: prompt length, code, reasoning verbs, multi-part asks, tools and conversation depth.
"""

from __future__ import annotations

import re

from orchestra.routing.profiles import Complexity
from orchestra.schemas.chat import ChatRequest

_HARD = re.compile(
    r"\b(prove|proof|derive|analy[sz]e|architect|design|refactor|debug|optimi[sz]e|"
    r"step[- ]by[- ]step|trade-?offs?|compare|critique|algorithm|complexity|theorem|"
    r"implement|rigorous|evaluate|strategy|why does|explain how)\b",
    re.IGNORECASE,
)
_EASY = re.compile(
    r"^\s*(hi|hello|hey|thanks|thank you|what is|what's|who is|when was|where is|"
    r"translate|define|spell)\b",
    re.IGNORECASE,
)
_CODE = re.compile(r"```|\bdef |\bclass |\bfunction\b|;\s*$|\{\s*$", re.MULTILINE)


def score_complexity(request: ChatRequest) -> float:
    """A 0..1 difficulty estimate (exposed for the route header)."""
    last = next((m.text() for m in reversed(request.messages) if m.role == "user"), "")
    text = last[:8000]
    score = 0.0
    score += min(len(text) / 4000, 0.35)
    score += min(len(_HARD.findall(text)) * 0.15, 0.45)
    if _CODE.search(text):
        score += 0.2
    if text.count("?") > 2 or len(re.findall(r"^\s*(\d+[.)]|[-*])\s", text, re.MULTILINE)) > 2:
        score += 0.1
    if request.tools:
        score += 0.1
    if len(request.messages) > 6:
        score += 0.1
    if _EASY.search(text) and len(text) < 200:
        score -= 0.2
    return max(0.0, min(score, 1.0))


def classify(request: ChatRequest) -> Complexity:
    score = score_complexity(request)
    if score >= 0.45:
        return "complex"
    if score >= 0.15:
        return "medium"
    return "simple"
