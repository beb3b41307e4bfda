"""One item under one strategy -> an :class:`~orchestra.evaluation.records.Outcome`.

What each kind sends (all through :class:`~orchestra.evaluation.client.GatewayClient`, the
answer cache bypassed):

* ``single``: one ``POST /v1/chat/completions`` (``model``, the prompt, ``max_tokens``,
  ``seed``); the gateway's retries and fallbacks count as calls (``x-orchestra-attempts``);
* ``sample``: k chat calls at once, ``seed`` = S + j and the strategy's temperature, voted
  here by :func:`orchestra.evaluation.voting.vote` on the grader's reading for exact and
  choice items (:func:`~orchestra.evaluation.grading.vote_key`; the report's curve recounts
  the same vote; confidence = agreement = the winning group's share);
* ``panel``: one ``POST /v1/multi-generate`` (``models``, ``strategy``, ``judge``); each
  member's retries and fallbacks (its ``attempts``) count as calls;
* ``debate``: ``POST /v1/debates``, polled until it ends; confidence = agreement of the
  last round.

The outcome's ``finish_reason`` (``length``: cut off at ``max_tokens``) is the answer's:
``choices[0]`` of a chat reply or a panel's, the winning sample's; None for debates.

A failed call never escapes: the outcome carries ``error`` (``"<status> <code>: <message>"``)
and whether a rerun may pass (``retryable``), with whatever was spent before it failed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from orchestra.errors import GatewayCallFailed
from orchestra.evaluation.client import GatewayClient, attempts_of
from orchestra.evaluation.grading import prompt_messages, vote_key
from orchestra.evaluation.protocols import Reply
from orchestra.evaluation.records import Item, Outcome, Sample
from orchestra.evaluation.strategies import Strategy
from orchestra.evaluation.voting import vote


class Executor:
    """Runs a strategy on an item through the gateway; the seed makes samples repeatable."""

    def __init__(
        self,
        client: GatewayClient,
        *,
        max_tokens: int = 1024,
        seed: int = 0,
        temperature: float | None = None,
    ) -> None:
        """``temperature``: sent by single models, panels and debates (``--temperature``;
        None: the provider's default); samples keep their own (``sample(.., temperature=)``)."""
        self.client = client
        self.max_tokens = max_tokens
        self.seed = seed
        self.temperature = temperature

    async def run(self, strategy: Strategy, item: Item) -> Outcome:
        started = time.perf_counter()
        messages = prompt_messages(item)
        try:
            if strategy.kind == "sample":
                outcome = await self._sample(strategy, messages, item)
            elif strategy.kind == "panel":
                outcome = _panel(await self.client.multi(self._panel_body(strategy, messages)))
            elif strategy.kind == "debate":
                outcome = _debate(await self.client.debate(self._debate_body(strategy, messages)))
            else:
                outcome = _single(await self.client.chat(self._chat_body(strategy, messages)))
        except GatewayCallFailed as exc:  # the calls it made count (a 404 made none)
            outcome = Outcome(error=_described(exc), retryable=exc.retryable, calls=exc.attempts)
        outcome.latency_ms = (time.perf_counter() - started) * 1000
        return outcome

    def _chat_body(
        self, strategy: Strategy, messages: list[dict[str, str]], seed: int | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": strategy.models[0],
            "messages": messages,
            "max_tokens": self.max_tokens,
            "seed": self.seed if seed is None else seed,
        }
        temperature = strategy.temperature if strategy.kind == "sample" else self.temperature
        if temperature is not None:
            body["temperature"] = temperature
        return body

    def _panel_body(self, strategy: Strategy, messages: list[dict[str, str]]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "models": list(strategy.models),
            "strategy": strategy.fusion,
            "messages": messages,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if strategy.judge is not None:
            body["judge"] = strategy.judge
        return body

    def _debate_body(self, strategy: Strategy, messages: list[dict[str, str]]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "participants": list(strategy.models),
            "messages": messages,
            "max_rounds": strategy.rounds,
            "threshold": strategy.threshold,
            "max_tokens": self.max_tokens,
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if strategy.judge is not None:
            body["judge"] = strategy.judge
        return body

    async def _sample(
        self, strategy: Strategy, messages: list[dict[str, str]], item: Item
    ) -> Outcome:
        """k calls at once (as self-consistency is deployed); any failed sample fails the
        item, so every result measures k real samples (a rerun retries it)."""
        bodies = [self._chat_body(strategy, messages, self.seed + j) for j in range(strategy.k)]
        replies = await asyncio.gather(
            *(self.client.chat(b) for b in bodies), return_exceptions=True
        )
        outcome = Outcome()
        failures: list[GatewayCallFailed] = []
        finishes: dict[int, str | None] = {}
        for reply in replies:
            if isinstance(reply, GatewayCallFailed):
                failures.append(reply)
                outcome.calls += reply.attempts
                outcome.samples.append(Sample(model=strategy.models[0], error=_described(reply)))
            elif isinstance(reply, BaseException):
                raise reply
            else:
                _add_spend(outcome, _single(reply))
                outcome.samples.append(Sample(model=_model_of(reply), answer=reply.text))
                finishes[id(outcome.samples[-1])] = _finish_of(reply.body)
        if failures:
            outcome.error = f"{len(failures)} of {strategy.k} samples failed: " + _described(
                failures[0]
            )
            outcome.retryable = all(f.retryable for f in failures)
            return outcome
        winner = _vote(outcome, vote_key(item))
        outcome.finish_reason = finishes.get(id(winner)) if winner is not None else None
        return outcome


def _described(exc: GatewayCallFailed) -> str:
    return f"{exc.status} {exc.code}: {exc.message}"


def _model_of(reply: Reply) -> str | None:
    model = reply.body.get("model") or reply.headers.get("x-orchestra-model")
    return model if isinstance(model, str) else None


def _usage(body: dict[str, Any]) -> tuple[int, int]:
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return 0, 0
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


def _single(reply: Reply) -> Outcome:
    """A chat completion; calls = the gateway's attempts (retries, fallbacks), at least 1."""
    prompt, completion = _usage(reply.body)
    return Outcome(
        answer=reply.text,
        model=_model_of(reply),
        cost_usd=reply.cost_usd,
        prompt_tokens=prompt,
        completion_tokens=completion,
        calls=max(attempts_of(reply.headers.get("x-orchestra-attempts", "")), 1),
        finish_reason=_finish_of(reply.body),
    )


def _add_spend(total: Outcome, part: Outcome) -> None:
    total.cost_usd += part.cost_usd
    total.prompt_tokens += part.prompt_tokens
    total.completion_tokens += part.completion_tokens
    total.calls += part.calls


def _finish_of(body: dict[str, Any]) -> str | None:
    """``choices[0].finish_reason`` of a chat or multi-generate reply (None when absent)."""
    try:
        reason = body["choices"][0].get("finish_reason")
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    return reason if isinstance(reason, str) else None


def _vote(outcome: Outcome, key: Callable[[str], str | None] | None = None) -> Sample | None:
    """The samples' majority (:func:`~orchestra.evaluation.voting.vote`, on ``key`` when
    given); returns the winning sample."""
    ballot = vote(outcome.samples, key=key)
    outcome.answer = ballot.winner.answer if ballot.winner is not None else None
    outcome.model = outcome.samples[0].model if outcome.samples else None
    outcome.agreement = outcome.confidence = round(ballot.share, 4)
    return ballot.winner


def _panel(reply: Reply) -> Outcome:
    """A multi-generate answer: calls = each member's attempts (retries and fallbacks; at
    least 1 when it was not skipped) + the judge's or synthesiser's."""
    body = reply.body
    results = [r for r in body.get("results") or [] if isinstance(r, dict)]
    fusion = body.get("fusion") or {}
    aux = [fusion.get("judge"), fusion.get("synthesizer")]
    calls = sum(_member_calls(r) for r in results)
    calls += sum(isinstance(a, dict) and a.get("status") != "skipped" for a in aux)
    prompt, completion = _usage(body)
    samples = [
        Sample(
            model=str(r.get("model")),
            answer=r.get("answer"),
            error=(r.get("error") or {}).get("message") if r.get("status") == "error" else None,
        )
        for r in results
    ]
    return Outcome(
        answer=reply.text,
        model=body.get("winner") or body.get("model"),
        cost_usd=reply.cost_usd,
        prompt_tokens=prompt,
        completion_tokens=completion,
        calls=calls,
        confidence=_fraction(body.get("confidence")),
        agreement=_fraction(body.get("agreement")),
        samples=samples,
        finish_reason=_finish_of(body) or _winner_finish(body, results),
    )


def _winner_finish(body: dict[str, Any], results: list[dict[str, Any]]) -> str | None:
    """The panel's winner's own finish reason, when the reply's ``choices`` carry none."""
    won = [r.get("finish_reason") for r in results if r.get("model") == body.get("winner")]
    return won[0] if won and isinstance(won[0], str) else None


def _member_calls(result: dict[str, Any]) -> int:
    if result.get("status") == "skipped":
        return 0
    attempts = result.get("attempts")
    return max(len(attempts) if isinstance(attempts, list) else 0, 1)


def _fraction(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _debate(reply: Reply) -> Outcome:
    """A finished debate: calls = every turn + the judge's synthesis; a FAILED debate is a
    retryable error (its participants' failures are usually an upstream's)."""
    view = reply.body
    rounds = [r for r in view.get("rounds") or [] if isinstance(r, dict)]
    turns = [(r.get("round"), t) for r in rounds for t in r.get("turns") or []]
    prompt, completion = _usage(view)
    last = rounds[-1].get("agreement") if rounds else None
    outcome = Outcome(
        answer=view.get("final_answer"),
        model=view.get("judge"),
        cost_usd=reply.cost_usd,
        prompt_tokens=prompt,
        completion_tokens=completion,
        calls=len(turns) + 1,
        confidence=_fraction(last),
        agreement=_fraction(last),
        rounds=len(rounds),
        samples=[
            Sample(
                model=str(t.get("participant")),
                answer=t.get("answer"),
                round=n,
                error=t.get("error"),
            )
            for n, t in turns
        ],
    )
    if view.get("status") != "SUCCEEDED":
        outcome.answer, outcome.calls = None, len(turns)
        outcome.error = f"0 debate_{str(view.get('status')).lower()}: {view.get('error')}"
        outcome.retryable = True
    return outcome
