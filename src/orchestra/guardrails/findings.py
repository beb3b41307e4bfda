"""What a guardrail reports: which check matched, by which rule, and what was done."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a Literal alias; guardrails sit below governance
    from orchestra.governance.records import GuardrailMode


@dataclass(frozen=True, slots=True)
class Finding:
    """One guardrail match.

    ``check`` is ``injection``, ``secrets`` or ``size``; ``rule`` names the pattern or
    heuristic (``openai_key``, ``ignore_instructions``, ``max_message_chars``), never the
    matched text; ``action`` is the mode the check ran in (``flag`` when the request went on,
    ``block`` when it was refused); ``score`` is the injection score (0..1), else None.
    """

    check: str
    rule: str
    action: GuardrailMode
    score: float | None = None

    def label(self) -> str:
        """``check:action``, the form of the ``x-orchestra-guardrails`` header's items."""
        return f"{self.check}:{self.action}"
