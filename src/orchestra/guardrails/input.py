"""The input guardrails of one key: injection heuristics, secrets, message size.

Each check runs in its own mode: ``block`` refuses the request (:class:`GuardrailBlocked`
names the check and the rule, never the text), ``flag`` lets it through with a
:class:`Finding` (for the ``x-orchestra-guardrails`` header, the metric and the audit
line), ``off`` costs nothing. Which texts each check reads:

- size: every message (its text parts joined);
- secrets: every message, the assistant's history and tool-call arguments included (a
  key pasted anywhere in the conversation is sent to the model);
- injection: user and tool messages only: that is where untrusted text arrives. System
  and developer messages are the operator's own and routinely say things such as "never
  reveal your system prompt"; assistant turns are the model's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

from orchestra.errors import GuardrailBlocked
from orchestra.guardrails.findings import Finding
from orchestra.guardrails.injection import DEFAULT_THRESHOLD, score_injection
from orchestra.guardrails.rules import first_rule
from orchestra.guardrails.secrets import SECRET_RULES

if TYPE_CHECKING:
    from orchestra.config import Settings
    from orchestra.governance.records import GuardrailMode, GuardrailSettings
    from orchestra.schemas.chat import ChatRequest

_T = TypeVar("_T")

#: roles whose text may carry an injection (see the module's docstring)
UNTRUSTED_ROLES = frozenset({"user", "tool", "function"})


def texts_of(request: ChatRequest) -> list[tuple[str, str]]:
    """``(role, text)`` for every message with text: its text parts joined (images,
    audio and files left out) and, for an assistant turn, its tool calls' arguments."""
    texts: list[tuple[str, str]] = []
    for message in request.messages:
        text = message.text()
        if text:
            texts.append((message.role, text))
        for call in message.tool_calls or ():
            if call.function.arguments:
                texts.append((message.role, call.function.arguments))
    return texts


class InputChecks:
    """One key's input guardrails; build once per policy, call :meth:`check` per request."""

    def __init__(
        self,
        injection: GuardrailMode,
        secrets: GuardrailMode,
        size: GuardrailMode,
        max_message_chars: int,
        *,
        injection_threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        self.injection = injection
        self.secrets = secrets
        self.size = size
        self.max_message_chars = max_message_chars
        self.injection_threshold = injection_threshold

    @classmethod
    def for_key(cls, settings: Settings, overrides: GuardrailSettings | None) -> InputChecks:
        """The gateway's defaults (settings) with a key's own choices over them."""
        if overrides is None:
            return cls(
                settings.guardrail_injection,
                settings.guardrail_secrets,
                settings.guardrail_size,
                settings.guardrail_max_message_chars,
            )
        return cls(
            _own(overrides.injection, settings.guardrail_injection),
            _own(overrides.secrets, settings.guardrail_secrets),
            _own(overrides.size, settings.guardrail_size),
            _own(overrides.max_message_chars, settings.guardrail_max_message_chars),
        )

    @property
    def enabled(self) -> bool:
        """Whether any check runs (when none does, :meth:`check` need not be called)."""
        return (self.injection, self.secrets, self.size) != ("off", "off", "off")

    def check(self, texts: Sequence[tuple[str, str]]) -> list[Finding]:
        """The flagged findings (at most one per check); raises :class:`GuardrailBlocked`
        at the first match of a check in ``block`` mode."""
        findings: list[Finding] = []
        if self.size != "off":
            self._size(texts, findings)
        if self.secrets != "off":
            self._secrets(texts, findings)
        if self.injection != "off":
            self._injection(texts, findings)
        return findings

    def _size(self, texts: Sequence[tuple[str, str]], findings: list[Finding]) -> None:
        if any(len(text) > self.max_message_chars for _, text in texts):
            self._found(Finding("size", "max_message_chars", self.size), findings)

    def _secrets(self, texts: Sequence[tuple[str, str]], findings: list[Finding]) -> None:
        for _, text in texts:
            rule = first_rule(SECRET_RULES, text, text.lower())
            if rule is not None:
                self._found(Finding("secrets", rule, self.secrets), findings)
                return

    def _injection(self, texts: Sequence[tuple[str, str]], findings: list[Finding]) -> None:
        best = None
        for role, text in texts:
            if role not in UNTRUSTED_ROLES:
                continue
            verdict = score_injection(text)
            if verdict.score >= self.injection_threshold and (
                best is None or verdict.score > best.score
            ):
                best = verdict
        if best is not None and best.rule is not None:
            self._found(Finding("injection", best.rule, self.injection, best.score), findings)

    @staticmethod
    def _found(finding: Finding, findings: list[Finding]) -> None:
        if finding.action == "block":
            raise GuardrailBlocked(
                f"The request was blocked by the {finding.check} guardrail (rule {finding.rule}).",
                rule=finding.rule,
                check=finding.check,
            )
        findings.append(finding)


def _own(value: _T | None, default: _T) -> _T:
    return default if value is None else value
