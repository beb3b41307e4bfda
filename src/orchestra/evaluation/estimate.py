"""A run's cost before anything is spent: the gateway's prices times the calls each pair
(strategy, item) will make, with token counts estimated from the prompts.

Two figures: ``total_usd`` expects every answer to take ``answer_tokens``; ``worst_usd``
lets every answer run to ``max_tokens`` (and a debate to its last round). Prompt tokens come
from :func:`orchestra.tokens.estimate_text_tokens` (a debate's revisions and a judge's prompt
include the answers they are shown); the instructions the gateway adds count as a fixed
overhead. Retries and fallbacks are not foreseen. ``auto`` (and a judge or synthesiser the
gateway picks) is priced as the dearest model served: conservative, since the router's
pick is not known beforehand. A model with no price is listed in ``unpriced`` and counted
as free: the caller says so rather than guessing quietly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestra.catalog.models import canonical_name
from orchestra.evaluation.grading import prompt_messages
from orchestra.evaluation.records import Item
from orchestra.evaluation.strategies import Strategy
from orchestra.fusion.prompts import JUDGE_MAX_TOKENS, SYNTHESIS_MAX_TOKENS
from orchestra.tokens import PER_MESSAGE_OVERHEAD, estimate_text_tokens

#: the system prompt and markup the gateway wraps around a judge, a synthesis or a debate turn
INSTRUCTION_TOKENS = 120
#: a judge's verdict (JSON: a pick or two scores, a reason)
JUDGE_REPLY_TOKENS = 60
#: debate.prompts.SYNTHESIS_MAX_TOKENS (the debate package is a use case: not imported)
DEBATE_SYNTHESIS_MAX_TOKENS = 1_500
#: a model name the gateway resolves itself: priced as the dearest served model
PICKED = "auto"


@dataclass(frozen=True)
class Price:
    """USD per token."""

    input: float
    output: float

    def cost(self, prompt: int, completion: int) -> float:
        return self.input * prompt + self.output * completion


class Pricing:
    """Prices by model id, found as the gateway finds models: the id, else a served id that
    ends with ``/<name>`` (``sim-large`` -> ``simulator/sim-large``; the dearest when several
    do), else one of the same :func:`canonical_name`; ``auto``/``auto:PROFILE`` -> the
    dearest served model."""

    def __init__(self, prices: Mapping[str, Price]) -> None:
        self.prices = dict(prices)

    def price(self, model: str) -> Price | None:
        if model == PICKED or model.startswith(PICKED + ":"):
            return _dearest(self.prices.values())
        if model in self.prices:
            return self.prices[model]
        found = _dearest(p for m, p in self.prices.items() if m.endswith("/" + model))
        if found is None:  # another spelling the gateway resolves (a version, a date)
            name = canonical_name(model)
            found = _dearest(p for m, p in self.prices.items() if canonical_name(m) == name)
        return found


def _dearest(prices: Iterable[Price]) -> Price | None:
    return max(prices, key=lambda p: (p.output, p.input), default=None)


def pricing_from(models: Sequence[Mapping[str, Any]]) -> Pricing:
    """``GET /v1/models``'s entries with a price (profiles have none)."""
    prices = {}
    for entry in models:
        pricing = entry.get("pricing")
        if isinstance(pricing, Mapping) and isinstance(entry.get("id"), str):
            prices[entry["id"]] = Price(
                float(pricing.get("input_per_token") or 0.0),
                float(pricing.get("output_per_token") or 0.0),
            )
    return Pricing(prices)


@dataclass
class Estimate:
    #: expected: every answer ``answer_tokens`` long (strategies and grading)
    total_usd: float
    #: every answer ``max_tokens`` long, every debate to its last round
    worst_usd: float
    calls: int
    #: expected USD per strategy spec (grading apart)
    per_strategy: dict[str, float]
    #: models without a price (counted as free): the estimate is low by their share
    unpriced: list[str]
    #: the judge's grading calls (judge-graded items), expected USD
    grading_usd: float = 0.0
    #: pairs left to run (already done ones are free)
    pairs: int = 0

    def describe(self) -> str:
        """The estimate as ``orchestra eval`` prints it: one line, and one more naming the
        models it could not price (so the figure is not taken for the whole cost)."""
        line = (
            f"estimate: ${self.total_usd:.4f} expected, ${self.worst_usd:.4f} at most "
            f"({self.calls} calls for {self.pairs} pairs)"
        )
        if self.unpriced:
            names = ", ".join(self.unpriced)
            line += f"\n  no price for {names}: counted free (the gateway lists no price)"
        return line


@dataclass(frozen=True)
class _Call:
    """One expected upstream call: prompt and completion tokens, expected and worst."""

    model: str
    prompt: tuple[int, int]
    completion: tuple[int, int]


@dataclass
class _Tally:
    pricing: Pricing
    expected: float = 0.0
    worst: float = 0.0
    calls: int = 0
    unpriced: set[str] = field(default_factory=set)

    def add(self, calls: Iterable[_Call]) -> float:
        """The calls' expected cost (added to the totals with their worst)."""
        spent = 0.0
        for call in calls:
            self.calls += 1
            price = self.pricing.price(call.model)
            if price is None:
                self.unpriced.add(call.model)
                continue
            spent += price.cost(call.prompt[0], call.completion[0])
            self.worst += price.cost(call.prompt[1], call.completion[1])
        self.expected += spent
        return spent


def estimate(
    strategies: Sequence[Strategy],
    items: Sequence[Item],
    pricing: Pricing,
    *,
    answer_tokens: int = 300,
    max_tokens: int = 1024,
    judge: str | None = None,
    done: Iterable[tuple[str, str]] = frozenset(),
) -> Estimate:
    """The cost of the pairs not yet ``done`` (keys as ``Result.key``: spec, item id)."""
    finished = set(done)
    tally = _Tally(pricing)
    per_strategy = {s.spec: 0.0 for s in strategies}
    grading, pairs = 0.0, 0
    answer = (min(answer_tokens, max_tokens), max_tokens)  # no answer outgrows max_tokens
    for item in items:
        prompt = _prompt_tokens(item)
        for strategy in strategies:
            if (strategy.spec, item.id) in finished:
                continue
            pairs += 1
            per_strategy[strategy.spec] += tally.add(_strategy_calls(strategy, prompt, answer))
            if item.kind == "judge":
                grading += tally.add(_grading_calls(item, judge, answer))
    return Estimate(
        total_usd=tally.expected,
        worst_usd=tally.worst,
        calls=tally.calls,
        per_strategy=per_strategy,
        unpriced=sorted(tally.unpriced),
        grading_usd=grading,
        pairs=pairs,
    )


def _prompt_tokens(item: Item) -> int:
    """As the gateway counts a chat's prompt (tokens.estimate_prompt_tokens)."""
    messages = prompt_messages(item)
    return 3 + sum(PER_MESSAGE_OVERHEAD + estimate_text_tokens(m["content"]) for m in messages)


def _strategy_calls(strategy: Strategy, prompt: int, answer: tuple[int, int]) -> list[_Call]:
    plain = (prompt, prompt)
    if strategy.kind == "single":
        return [_Call(strategy.models[0], plain, answer)]
    if strategy.kind == "sample":
        return [_Call(strategy.models[0], plain, answer)] * strategy.k
    shown = _with_answers(prompt + INSTRUCTION_TOKENS, len(strategy.models), answer)
    if strategy.kind == "panel":
        calls = [_Call(m, plain, answer) for m in strategy.models]
        if strategy.fusion == "judge":
            verdict = (JUDGE_REPLY_TOKENS, JUDGE_MAX_TOKENS)
            calls.append(_Call(strategy.judge or PICKED, shown, verdict))
        elif strategy.fusion == "merge":
            calls.append(_Call(PICKED, shown, (answer[0], SYNTHESIS_MAX_TOKENS)))
        return calls
    return _debate_calls(strategy, prompt, answer, shown)


def _debate_calls(
    strategy: Strategy, prompt: int, answer: tuple[int, int], shown: tuple[int, int]
) -> list[_Call]:
    """Every round run (a debate that converges stops earlier: the estimate errs high);
    a revision shows the participant its own and the others' previous answers."""
    opening = (prompt + INSTRUCTION_TOKENS,) * 2
    calls = [_Call(m, opening, answer) for m in strategy.models]
    for _ in range(strategy.rounds - 1):
        calls += [_Call(m, shown, answer) for m in strategy.models]
    synthesis = (answer[0], DEBATE_SYNTHESIS_MAX_TOKENS)
    calls.append(_Call(strategy.judge or PICKED, shown, synthesis))
    return calls


def _with_answers(base: int, count: int, answer: tuple[int, int]) -> tuple[int, int]:
    return (base + count * answer[0], base + count * answer[1])


def _grading_calls(item: Item, judge: str | None, answer: tuple[int, int]) -> list[_Call]:
    """Two judge calls per answer (the order swapped): question, rubric, both answers."""
    shown = item.question + (item.rubric or "") + item.answer
    base = estimate_text_tokens(shown) + INSTRUCTION_TOKENS
    prompt = _with_answers(base, 1, answer)
    return [_Call(judge or PICKED, prompt, (JUDGE_REPLY_TOKENS, JUDGE_REPLY_TOKENS))] * 2
