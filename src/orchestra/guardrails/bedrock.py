"""Amazon Bedrock Guardrails (``ApplyGuardrail``) on a request's input and an answer's
output, for any provider: the guardrail is configured in Bedrock (content filters, denied
topics, word lists, sensitive information, grounding) and named here by id and version.

An intervention on input raises :class:`GuardrailBlocked` (400) with rule
``bedrock:<policy>``; on output it comes back as an :class:`OutputVerdict` the caller
turns into ``finish_reason: content_filter``, or, when the guardrail only masked
sensitive information, into the masked text.

When Bedrock cannot be asked (throttled, down, misconfigured) a guardrail *fails
closed* by default: :class:`GuardrailUnavailable` (503, retryable), since a guardrail the
operator configured that silently stops applying is worse than a refused request.
Either direction may be set to fail open (the request or answer goes through; a warning
line on ``orchestra.security`` says so, and the output verdict lists
``bedrock:unavailable``).

The boto3 client is blocking: each call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestra.errors import GuardrailBlocked, GuardrailUnavailable
from orchestra.guardrails.input import UNTRUSTED_ROLES

log = logging.getLogger("orchestra.security")

#: the assessment's policy keys, in the order their interventions are reported
_POLICIES = {
    "topicPolicy": "topic_policy",
    "contentPolicy": "content_policy",
    "wordPolicy": "word_policy",
    "sensitiveInformationPolicy": "sensitive_information_policy",
    "contextualGroundingPolicy": "contextual_grounding_policy",
    "automatedReasoningPolicy": "automated_reasoning_policy",
}
UNAVAILABLE = "bedrock:unavailable"


@dataclass(frozen=True, slots=True)
class OutputVerdict:
    """What the guardrail said about an answer.

    ``intervened``: the guardrail acted. ``text``: its masked version of the answer when
    every action was an anonymisation (send that instead); None when it blocked (finish
    with ``content_filter``) or did not act. ``rules``: ``bedrock:<policy>`` per policy
    that acted (``bedrock:unavailable`` when it failed open)."""

    intervened: bool
    text: str | None = None
    rules: list[str] = field(default_factory=list)


class BedrockGuardrail:
    def __init__(
        self,
        client: Any,
        guardrail_id: str,
        version: str,
        *,
        fail_open_input: bool = False,
        fail_open_output: bool = False,
    ) -> None:
        self._client = client
        self.guardrail_id = guardrail_id
        self.version = version
        self.fail_open_input = fail_open_input
        self.fail_open_output = fail_open_output

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("bedrock-runtime")
        return self._client

    async def check_input(self, texts: Sequence[tuple[str, str]]) -> None:
        """Apply the guardrail to the user and tool texts of a request (``texts_of``)."""
        blocks = [text for role, text in texts if role in UNTRUSTED_ROLES and text]
        if not blocks:
            return
        response = await self._apply("INPUT", blocks, fail_open=self.fail_open_input)
        if response is None or response.get("action") != "GUARDRAIL_INTERVENED":
            return
        rule = (_acted(response) or ["bedrock:intervened"])[0]
        raise GuardrailBlocked(
            f"The request was blocked by the Bedrock guardrail (rule {rule}).",
            rule=rule,
            check="bedrock",
        )

    async def check_output(self, text: str) -> OutputVerdict:
        """Apply the guardrail to an answer's text."""
        if not text:
            return OutputVerdict(False)
        response = await self._apply("OUTPUT", [text], fail_open=self.fail_open_output)
        if response is None:
            return OutputVerdict(False, None, [UNAVAILABLE])
        if response.get("action") != "GUARDRAIL_INTERVENED":
            return OutputVerdict(False)
        rules = _acted(response) or ["bedrock:intervened"]
        masked = None
        if _only_anonymised(response):
            masked = "".join(o.get("text", "") for o in response.get("outputs", []))
        return OutputVerdict(True, masked, rules)

    async def _apply(
        self, source: str, texts: list[str], *, fail_open: bool
    ) -> dict[str, Any] | None:
        """One ApplyGuardrail call; None when it failed and this direction fails open."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return await asyncio.to_thread(
                self.client.apply_guardrail,
                guardrailIdentifier=self.guardrail_id,
                guardrailVersion=self.version,
                source=source,
                content=[{"text": {"text": t}} for t in texts],
            )
        except (ClientError, BotoCoreError) as error:
            reason = _error_code(error)
            if fail_open:
                log.warning("bedrock guardrail unavailable, failing open: %s %s", source, reason)
                return None
            raise GuardrailUnavailable(
                f"The Bedrock guardrail could not check the {source.lower()} ({reason})."
            ) from error


def _acted(response: dict[str, Any]) -> list[str]:
    """``bedrock:<policy>`` for each policy with an entry whose action is not NONE."""
    found: list[str] = []
    for assessment in response.get("assessments", []):
        for key, name in _POLICIES.items():
            if _actions(assessment.get(key)) - {"NONE"} and f"bedrock:{name}" not in found:
                found.append(f"bedrock:{name}")
    return found


def _only_anonymised(response: dict[str, Any]) -> bool:
    actions: set[str] = set()
    for assessment in response.get("assessments", []):
        for key in _POLICIES:
            actions |= _actions(assessment.get(key))
    return bool(actions - {"NONE"}) and actions - {"NONE"} == {"ANONYMIZED"}


def _actions(policy: Any) -> set[str]:
    """Every ``action`` in one policy's assessment (its lists of filters, topics, words,
    entities and regexes)."""
    if not isinstance(policy, dict):
        return set()
    return {
        str(entry.get("action", "NONE"))
        for entries in policy.values()
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    }


def _error_code(error: Exception) -> str:
    """The AWS error code (``ThrottlingException``) or the exception's class: never the
    message, which may quote the request."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(error).__name__
