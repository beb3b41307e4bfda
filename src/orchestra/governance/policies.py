"""The request policies seam: guardrails on the way in and on the way out.

The use cases (generate and its stream relay, multi-generate) call one
:class:`RequestPolicies` with the current :class:`~orchestra.governance.admission.Admission`:

- :meth:`RequestPolicies.before`: the input checks (prompt injection, secrets, message
  size; Amazon Bedrock Guardrails when configured) once per request, on the unified
  ``ChatRequest``, before the first upstream call. A ``block`` match is a 400
  ``guardrail_blocked`` naming the rule; a ``flag`` goes into ``x-orchestra-guardrails``.
- :meth:`RequestPolicies.after`: a buffered answer's text redacted (secrets, PII); a Bedrock
  output intervention ends it with ``finish_reason: content_filter``.
- :meth:`RequestPolicies.redacting`: a stream's text redacted chunk by chunk through a
  per-stream redactor with a bounded look-behind (a pattern split across chunks is still
  caught; nothing is delayed by more than the look-behind).

Every action goes to the security audit log (key id, check, rule, action; never the text)
and to the observer (``guardrail``). The checks themselves are the ``guardrails`` package's,
handed in as :class:`Guards` by the composition root; this module names only what it needs
of them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from orchestra.errors import GuardrailBlocked
from orchestra.schemas.chat import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
)

if TYPE_CHECKING:
    from orchestra.governance.admission import Admission, GuardrailModes
    from orchestra.observability import Observer

security_log = logging.getLogger("orchestra.security")

#: (role, text) pairs of a request: what the input checks read
Texts = list[tuple[str, str]]


class Answered(Protocol):
    """A buffered answer: ``ChatResponse``, ``MultiGenerateResponse``."""

    choices: list[Choice]


def _drop_native(response: Answered) -> None:
    if isinstance(response, ChatResponse):
        response._native = None


class FindingLike(Protocol):
    @property
    def check(self) -> str: ...

    @property
    def rule(self) -> str: ...

    @property
    def action(self) -> str: ...


class InputChecker(Protocol):
    """``guardrails.input.InputChecks``: raises GuardrailBlocked on a ``block`` match."""

    def check(self, texts: Sequence[tuple[str, str]]) -> Sequence[FindingLike]: ...


class StreamRedactorLike(Protocol):
    rules: list[str]

    def feed(self, text: str) -> str: ...

    def flush(self) -> str: ...


class OutputRedactorLike(Protocol):
    """``guardrails.output.OutputRedactor``."""

    def redact(self, text: str) -> tuple[str, list[str]]: ...

    def stream(self, lookbehind: int) -> StreamRedactorLike: ...


class VerdictLike(Protocol):
    @property
    def intervened(self) -> bool: ...

    @property
    def text(self) -> str | None: ...

    @property
    def rules(self) -> list[str]: ...


class BedrockLike(Protocol):
    """``guardrails.bedrock.BedrockGuardrail``."""

    async def check_input(self, texts: Sequence[tuple[str, str]]) -> None: ...

    async def check_output(self, text: str) -> VerdictLike: ...


#: ``guardrails.audit.audit`` with its logger bound: (key id, check, rule, action)
Audit = Callable[[str, str, str, str], None]


def audit_line(key_id: str, check: str, rule: str, action: str) -> None:
    """One security audit line (the default until ``guardrails.audit`` is wired in)."""
    fields = {"key_id": key_id, "check": check, "rule": rule, "action": action}
    security_log.warning("guardrail %s", action, extra=fields)


@dataclass(frozen=True)
class Guards:
    """The guardrails a function runs (built by the composition root from ``guardrails``)."""

    #: the input checks for a key's resolved modes (made once per distinct modes)
    input_checks: Callable[[GuardrailModes], InputChecker] | None = None
    texts_of: Callable[[ChatRequest], Texts] | None = None
    redactor: OutputRedactorLike | None = None
    bedrock: BedrockLike | None = None
    audit: Audit = audit_line


class RequestPolicies:
    """Runs :class:`Guards` for the current admission (see the module's doc)."""

    def __init__(
        self, guards: Guards, *, observer: Observer | None = None, lookbehind: int = 64
    ) -> None:
        self.guards = guards
        self.observer = observer
        self.lookbehind = lookbehind
        self._checkers: dict[GuardrailModes, InputChecker] = {}

    def noted(self, admission: Admission, check: str, rule: str, action: str) -> None:
        """An action taken: audited, observed, and (a flag) in the response header."""
        self.guards.audit(admission.key_id, check, rule, action)
        if self.observer is not None:
            self.observer.guardrail(check, rule, action)
        if action == "flag":
            admission.flag(check, action)

    async def before(self, request: ChatRequest, admission: Admission) -> None:
        """The input checks, once per request; :class:`GuardrailBlocked` on a block."""
        if admission.checked:
            return
        admission.checked = True
        modes, guards = admission.guardrails, self.guards
        checks = modes.checks_input and guards.input_checks is not None
        if not (checks or guards.bedrock is not None) or guards.texts_of is None:
            return
        texts = guards.texts_of(request)
        try:
            if checks:
                for finding in self._checker(modes).check(texts):
                    self.noted(admission, finding.check, finding.rule, finding.action)
            if guards.bedrock is not None:
                await guards.bedrock.check_input(texts)
        except GuardrailBlocked as blocked:
            check = blocked.check or (
                blocked.rule.split(":")[0] if ":" in blocked.rule else "input"
            )
            self.noted(admission, check, blocked.rule, "block")
            if self.observer is not None:
                self.observer.refused(blocked.code or "guardrail_blocked")
            raise

    def _checker(self, modes: GuardrailModes) -> InputChecker:
        checker = self._checkers.get(modes)
        if checker is None:
            assert self.guards.input_checks is not None
            checker = self._checkers[modes] = self.guards.input_checks(modes)
        return checker

    async def after(self, response: Answered, admission: Admission) -> None:
        """A buffered answer (generate's, or multi-generate's fused one): its text
        redacted; a Bedrock output intervention applied."""
        redactor = self.guards.redactor if admission.guardrails.redact_output else None
        bedrock = self.guards.bedrock
        for choice in response.choices:
            text = choice.message.content
            if not text:
                continue
            if redactor is not None:
                text, rules = redactor.redact(text)
                for rule in rules:
                    self.noted(admission, "output", rule, "redact")
                if rules:
                    choice.message.content = text
                    _drop_native(response)  # an upstream's own body would say it unredacted
            if bedrock is not None:
                verdict = await bedrock.check_output(text)
                if verdict.intervened:
                    for rule in verdict.rules or ["bedrock"]:
                        self.noted(admission, "bedrock", rule, "filter")
                    choice.message.content = verdict.text or ""
                    choice.finish_reason = "content_filter"
                    _drop_native(response)
        if redactor is not None:
            self._redact_results(response, admission, redactor)

    def _redact_results(
        self, response: Answered, admission: Admission, redactor: OutputRedactorLike
    ) -> None:
        """Multi-generate's per-model answers (``results[].answer``), redacted alike."""
        for result in getattr(response, "results", None) or ():
            if getattr(result, "answer", None):
                result.answer, rules = redactor.redact(result.answer)
                for rule in rules:
                    self.noted(admission, "output", rule, "redact")

    def redacting(
        self, chunks: AsyncIterator[ChatChunk], admission: Admission
    ) -> AsyncIterator[ChatChunk]:
        """``chunks`` with their text redacted, when the key's output is redacted."""
        if not admission.guardrails.redact_output or self.guards.redactor is None:
            return chunks
        return self._redacted(chunks, admission, self.guards.redactor)

    async def _redacted(
        self,
        chunks: AsyncIterator[ChatChunk],
        admission: Admission,
        redactor: OutputRedactorLike,
    ) -> AsyncIterator[ChatChunk]:
        """Each choice's text through its own stream redactor; what a redactor still holds
        is released with the choice's finish (or in one last chunk if none came)."""
        held: dict[int, StreamRedactorLike] = {}
        last: ChatChunk | None = None
        try:
            async for chunk in chunks:
                last = chunk
                for choice in chunk.choices:
                    _redact_choice(choice, held, redactor, self.lookbehind)
                yield chunk
            tail = _tail(held, last)
            if tail is not None:
                yield tail
        finally:
            for stream in held.values():
                for rule in stream.rules:
                    self.noted(admission, "output", rule, "redact")
            closer = getattr(chunks, "aclose", None)
            if closer is not None:
                await closer()


def _redact_choice(
    choice: ChunkChoice,
    held: dict[int, StreamRedactorLike],
    redactor: OutputRedactorLike,
    lookbehind: int,
) -> None:
    delta = choice.delta
    stream = held.get(choice.index)
    if stream is None:
        if not delta.content:
            return
        stream = held[choice.index] = redactor.stream(lookbehind)
    text = stream.feed(delta.content) if delta.content else ""
    if choice.finish_reason is not None:
        text += stream.flush()
    if delta.content is not None or text:
        delta.content = text


def _tail(held: dict[int, StreamRedactorLike], last: ChatChunk | None) -> ChatChunk | None:
    """What the redactors still hold once the stream ended without a finish (a stream cut
    short), as one chunk."""
    choices = []
    for index, stream in held.items():
        text = stream.flush()
        if text:
            choices.append(ChunkChoice(index=index, delta=Delta(content=text)))
    if not choices:
        return None
    return ChatChunk(id=last.id if last else "", model=last.model if last else "", choices=choices)
