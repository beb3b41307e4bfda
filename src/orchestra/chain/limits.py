"""The checks before a chain run starts: size, depth, fan-out and the worst-case cost.

Counting (what ``max_steps`` bounds): every step once, nested ones included; a parallel
step is 1 + its branches, a condition 1 + both of its lists (either may run), a map
1 + ``max_items`` x its inner step. Depth: a top-level step is at depth 1, a parallel's
branch or a condition's step or a map's step one deeper. Fan-out: a parallel's branches, a
map's ``concurrency`` and its ``max_items``, each at most ``max_fanout``.

The worst-case cost (what ``max_cost_usd`` bounds) adds, for every model call a run can
make, the model's worst case (:func:`orchestra.catalog.pricing.worst_case_nanos`: every
estimated prompt token at the dearer input price, ``max_tokens`` output tokens) times how
many times it can run (map items x nested maps; every branch of a parallel; the dearer of
a condition's two lists). Prompt tokens are estimated (``orchestra.tokens``) from the
template's text, the run's inputs, and, for a reference to a step, that step's most output
(its ``max_tokens``; a map's: items x inner; a parallel's with a template: the sum of its
branches, else the largest). ``auto`` / ``auto:<profile>`` / a profile name, and a name the
catalog does not know (a deployment group), are priced as the DEAREST chat model of the
catalog whose context window holds the prompt: the router may pick any of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.catalog.pricing import NANOS_PER_USD, worst_case_nanos
from orchestra.chain import templates
from orchestra.chain.checks import over_reference
from orchestra.chain.document import (
    AnyStep,
    Chain,
    ConditionStep,
    ConversationStep,
    GenerateStep,
    MapStep,
    ParallelStep,
)
from orchestra.errors import InvalidRequest, UnknownModel
from orchestra.routing.profiles import PROFILES
from orchestra.tokens import PER_MESSAGE_OVERHEAD, estimate_text_tokens

#: what a ``judge`` combine's call may answer (the steps use the same figure)
JUDGE_MAX_TOKENS = 512
#: the judge's own instructions around the answers it compares
JUDGE_PROMPT_TOKENS = 300


@dataclass(frozen=True)
class GatewayLimits:
    """The gateway's ceilings (settings ``chain_max_*``)."""

    max_steps: int = 50
    max_depth: int = 3
    max_fanout: int = 32
    max_cost_usd: float | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> GatewayLimits:
        return cls(
            settings.chain_max_steps,
            settings.chain_max_depth,
            settings.chain_max_fanout,
            settings.chain_max_cost_usd,
        )


@dataclass(frozen=True)
class CallEstimate:
    """One model call a step can make: its worst case once, and how many times it may run."""

    path: str
    step_id: str
    kind: str
    model: str
    priced_as: str
    prompt_tokens: int
    max_tokens: int
    runs: int
    cost_usd: float

    @property
    def total_usd(self) -> float:
        return self.cost_usd * self.runs


@dataclass
class Estimate:
    steps: int = 0
    depth: int = 0
    fanout: int = 0
    calls: list[CallEstimate] = field(default_factory=list)
    total_usd: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "depth": self.depth,
            "fanout": self.fanout,
            "total_usd": round(self.total_usd, 6),
            "calls": [
                {
                    "path": c.path,
                    "id": c.step_id,
                    "kind": c.kind,
                    "model": c.model,
                    "priced_as": c.priced_as,
                    "prompt_tokens": c.prompt_tokens,
                    "max_tokens": c.max_tokens,
                    "runs": c.runs,
                    "cost_usd": round(c.total_usd, 6),
                }
                for c in self.calls
            ],
        }


def count_steps(steps: Iterable[AnyStep]) -> int:
    return sum(_count(step) for step in steps)


def _count(step: AnyStep) -> int:
    if isinstance(step, ParallelStep):
        return 1 + count_steps(step.branches)
    if isinstance(step, ConditionStep):
        return 1 + count_steps(step.then) + count_steps(step.else_)
    if isinstance(step, MapStep):
        return 1 + step.max_items * _count(step.step)
    return 1


def fanout(chain: Chain) -> int:
    return widest(chain)[0]


def widest(chain: Chain) -> tuple[int, str | None]:
    """The widest fan-out and the path of the step that has it (None: no fan-out)."""
    found: tuple[int, str | None] = (1, None)
    for located in chain.walk():
        step = located.step
        width = 0
        if isinstance(step, ParallelStep):
            width = len(step.branches)
        elif isinstance(step, MapStep):
            width = max(step.concurrency, step.max_items)
        if width > found[0]:
            found = (width, located.path)
    return found


def check(
    chain: Chain,
    gateway: GatewayLimits,
    catalog: Catalog | Iterable[ModelInfo],
    inputs: Mapping[str, Any] | None = None,
) -> Estimate:
    """The estimate, or :class:`InvalidRequest` (``param="limits"``) naming the limit."""
    own = chain.limits
    for name in ("max_steps", "max_depth", "max_fanout", "max_cost_usd"):
        mine, ceiling = getattr(own, name), getattr(gateway, name)
        if mine is not None and ceiling is not None and mine > ceiling:
            raise _refuse(f"limits.{name} is {mine}, above this gateway's {ceiling}")
    estimate = Estimate(
        steps=count_steps(chain.steps),
        depth=max(located.depth for located in chain.walk()),
        fanout=fanout(chain),
    )
    _within("max_steps", estimate.steps, own.max_steps, gateway.max_steps, "steps")
    _within("max_depth", estimate.depth, own.max_depth, gateway.max_depth, "levels deep")
    where = widest(chain)[1]
    _within("max_fanout", estimate.fanout, own.max_fanout, gateway.max_fanout, "wide", where)
    _Pricer(chain, _models(catalog), inputs or {}).run(estimate)
    cap = _lowest(own.max_cost_usd, gateway.max_cost_usd)
    if cap is not None and estimate.total_usd > cap:
        dearest = max(estimate.calls, key=lambda c: c.total_usd)
        raise _refuse(
            f"the chain may cost up to {usd(estimate.total_usd)}, above max_cost_usd"
            f" {usd(cap)} (the dearest step: {dearest.path} '{dearest.step_id}',"
            f" {usd(dearest.total_usd)} on {dearest.priced_as})"
        )
    return estimate


def _refuse(message: str) -> InvalidRequest:
    return InvalidRequest(message, param="limits", code="chain_limit_exceeded")


def _lowest(a: float | None, b: float | None) -> float | None:
    present = [x for x in (a, b) if x is not None]
    return min(present) if present else None


def _within(
    name: str, value: int, own: int | None, gateway: int, unit: str, where: str | None = None
) -> None:
    cap = int(_lowest(own, gateway) or gateway)
    if value > cap:
        whose = "the chain's" if own is not None and own <= gateway else "this gateway's"
        step = f" (the widest step: {where})" if where else ""
        raise _refuse(f"the chain is {value} {unit}, above {whose} {name} of {cap}{step}")


def _models(catalog: Catalog | Iterable[ModelInfo]) -> Catalog:
    return catalog if isinstance(catalog, Catalog) else Catalog(catalog)


class _Pricer:
    """Walks the chain in order, tracking each step's most output tokens for later refs."""

    def __init__(self, chain: Chain, catalog: Catalog, inputs: Mapping[str, Any]) -> None:
        self.chain = chain
        self.catalog = catalog
        self.chat = [m for m in catalog if not m.is_embedding]
        self.inputs = inputs
        self.out: dict[str, int] = {}
        self.threads: dict[str, int] = {}

    def run(self, estimate: Estimate) -> None:
        calls: list[CallEstimate] = []
        for i, step in enumerate(self.chain.steps):
            self.step(step, f"steps[{i}]", 1, {}, calls)
        estimate.calls = calls
        estimate.total_usd = sum(c.total_usd for c in calls)

    def step(
        self, step: AnyStep, path: str, runs: int, loop: dict[str, int], calls: list[CallEstimate]
    ) -> int:
        """Price ``step`` (run ``runs`` times) and return its most output tokens."""
        if isinstance(step, GenerateStep | ConversationStep):
            out = self._call(step, path, runs, loop, calls)
        elif isinstance(step, ParallelStep):
            out = self._parallel(step, path, runs, loop, calls)
        elif isinstance(step, ConditionStep):
            out = self._condition(step, path, runs, loop, calls)
        else:
            out = self._map(step, path, runs, loop, calls)
        self.out[step.id] = out
        return out

    def _call(
        self,
        step: GenerateStep | ConversationStep,
        path: str,
        runs: int,
        loop: dict[str, int],
        calls: list[CallEstimate],
    ) -> int:
        prompt = 3 + PER_MESSAGE_OVERHEAD + self.tokens(step.prompt, loop)
        if step.system is not None:
            prompt += PER_MESSAGE_OVERHEAD + self.tokens(step.system, loop)
        if isinstance(step, GenerateStep) and step.output_schema is not None:
            prompt += estimate_text_tokens(json.dumps(step.output_schema))
        if isinstance(step, ConversationStep):
            history = self.threads.get(step.thread, 0)
            self.threads[step.thread] = history + prompt + step.max_tokens
            prompt += history
        calls.append(
            self.price(path, step.id, step.kind, step.model, prompt, step.max_tokens, runs)
        )
        return step.max_tokens

    def _parallel(
        self,
        step: ParallelStep,
        path: str,
        runs: int,
        loop: dict[str, int],
        calls: list[CallEstimate],
    ) -> int:
        outs = [
            self.step(b, f"{path}.branches[{i}]", runs, loop, calls)
            for i, b in enumerate(step.branches)
        ]
        combine = step.combine
        if combine.strategy == "judge":
            prompt = JUDGE_PROMPT_TOKENS + sum(outs)
            model = combine.judge or "auto"
            calls.append(
                self.price(
                    f"{path}.combine", step.id, "judge", model, prompt, JUDGE_MAX_TOKENS, runs
                )
            )
        if combine.template is not None:
            return self.tokens(combine.template, loop)
        return max(outs)

    def _condition(
        self,
        step: ConditionStep,
        path: str,
        runs: int,
        loop: dict[str, int],
        calls: list[CallEstimate],
    ) -> int:
        classify = step.when.classify
        if classify is not None:
            value = self.tokens(step.value, loop)
            prompt = (
                3
                + 2 * PER_MESSAGE_OVERHEAD
                + 20
                + self.tokens(classify.prompt, {**loop, "value": value})
            )
            calls.append(
                self.price(
                    f"{path}.when.classify",
                    step.id,
                    "classify",
                    classify.model,
                    prompt,
                    classify.max_tokens,
                    runs,
                )
            )
        sides: list[tuple[float, list[CallEstimate], int]] = []
        for name, steps in (("then", step.then), ("else", step.else_)):
            side: list[CallEstimate] = []
            out = 0
            for i, inner in enumerate(steps):
                out = self.step(inner, f"{path}.{name}[{i}]", runs, loop, side)
            sides.append((sum(c.total_usd for c in side), side, out))
        calls.extend(max(sides, key=lambda s: s[0])[1])
        return max(s[2] for s in sides)

    def _map(
        self, step: MapStep, path: str, runs: int, loop: dict[str, int], calls: list[CallEstimate]
    ) -> int:
        item = self.ref_tokens(over_reference(step.over), loop)
        inner_loop = {**loop, step.as_: item, "index": 1}
        out = self.step(step.step, f"{path}.step", runs * step.max_items, inner_loop, calls)
        return step.max_items * (out + 1)

    def tokens(self, source: str, loop: Mapping[str, int]) -> int:
        parsed = templates.parse(source)
        total = 0
        for node in parsed.nodes:
            total += (
                estimate_text_tokens(node)
                if isinstance(node, str)
                else self.ref_tokens(node.ref, loop)
            )
        return total

    def ref_tokens(self, ref: templates.Reference, loop: Mapping[str, int]) -> int:
        if ref.root in loop:
            return loop[ref.root]
        if ref.root == "inputs" and ref.keys:
            return estimate_text_tokens(templates.as_text(self.inputs.get(str(ref.keys[0]))))
        if ref.root == "steps" and ref.keys:
            return self.out.get(str(ref.keys[0]), 0)
        return 0

    def price(
        self,
        path: str,
        step_id: str,
        kind: str,
        model: str,
        prompt: int,
        max_tokens: int,
        runs: int,
    ) -> CallEstimate:
        chosen = self._model(model, prompt, max_tokens, path)
        cost = worst_case_nanos(chosen, prompt, max_tokens) / NANOS_PER_USD
        return CallEstimate(path, step_id, kind, model, chosen.id, prompt, max_tokens, runs, cost)

    def _model(self, name: str, prompt: int, max_tokens: int, path: str) -> ModelInfo:
        if name != "auto" and not name.startswith("auto:") and name not in PROFILES:
            try:
                return self.catalog.get(name)
            except UnknownModel:
                pass  # a deployment group or a name only the router knows: priced as auto
        fitting = [m for m in self.chat if m.context_window >= prompt]
        if not fitting:
            raise InvalidRequest(
                f"{path}.model: no model of the catalog holds a prompt of about {prompt} tokens",
                param=f"{path}.model",
            )
        return max(fitting, key=lambda m: worst_case_nanos(m, prompt, max_tokens))


def usd(amount: float) -> str:
    """Dollars to four significant digits, never rounded to zero or shown as an exponent
    (``$0.000001``, ``$0.3008``): a tiny cap must read as what it is."""
    return "$" + format(Decimal(f"{amount:.4g}"), "f")
