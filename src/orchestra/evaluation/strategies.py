"""The ``--strategy`` specs: one model, a profile, k samples voted, a panel, a debate.

Grammar (spaces ignored; model lists split on commas, ``name=value`` options after them)::

    MODEL | auto | auto:PROFILE                        -> single
    sample(MODEL, k=5, temperature=0.7)   (alias sc)   -> sample
    panel(M1, M2, ..., fusion=vote|rank|merge|first|judge, judge=M)
    debate(M1, M2, ..., rounds=3, threshold=0.8, judge=M)

A parsed strategy carries a canonical ``spec`` with every default filled in
(``sample(sim-large, k=5, temperature=0.7)``): it keys the results file, so two specs that
run differently never share a key and two spellings of the same run always do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from orchestra.catalog.models import canonical_name

StrategyKind = Literal["single", "sample", "panel", "debate"]
FUSIONS = ("vote", "rank", "merge", "first", "judge")
#: the gateway's own limits (schemas.multi, schemas.debate), checked here so a bad spec
#: fails before anything is spent rather than as a 400 on every item
MAX_PANEL = 16
DEBATE_PARTICIPANTS = (2, 6)
MAX_ROUNDS = 10
MAX_SAMPLES = 64

_CALL = re.compile(r"^(?P<name>[a-z]+)\((?P<args>.*)\)$", re.IGNORECASE)
_MODEL = re.compile(r"^[^(),=\s]+$")


@dataclass(frozen=True)
class Strategy:
    spec: str
    kind: StrategyKind
    models: tuple[str, ...]
    k: int = 1
    fusion: str = "vote"
    rounds: int = 3
    judge: str | None = None
    temperature: float | None = None
    threshold: float = 0.8

    @property
    def calls_per_item(self) -> int:
        """Upstream calls one item is expected to take (a debate that converges early takes
        fewer; retries and fallbacks more)."""
        if self.kind == "sample":
            return self.k
        if self.kind == "panel":
            return len(self.models) + (1 if self.fusion in ("judge", "merge") else 0)
        if self.kind == "debate":
            return len(self.models) * self.rounds + 1
        return 1

    @property
    def fused(self) -> bool:
        """Several answers make one: it has a confidence and an agreement to calibrate."""
        return self.kind != "single"


def parse(spec: str) -> Strategy:
    """A ``--strategy`` value -> :class:`Strategy`; ``ValueError`` naming the spec when bad."""
    text = re.sub(r"\s+", "", spec)
    call = _CALL.match(text)
    if call is None:
        return Strategy(spec=_model(text, spec), kind="single", models=(text,))
    name = call["name"].lower()
    builder = _BUILDERS.get(name)
    if builder is None:
        raise ValueError(
            f"strategy {spec!r}: unknown kind {call['name']!r} (sample, sc, panel or debate)"
        )
    models, options = _arguments(call["args"], spec)
    return builder(models, options, spec)


def _model(name: str, spec: str) -> str:
    if not name or not _MODEL.match(name):
        raise ValueError(f"strategy {spec!r}: {name!r} is not a model id or auto[:PROFILE]")
    return name


def _arguments(args: str, spec: str) -> tuple[list[str], dict[str, str]]:
    models: list[str] = []
    options: dict[str, str] = {}
    for part in args.split(",") if args else []:
        name, eq, value = part.partition("=")
        if eq:
            if not name or not value:
                raise ValueError(f"strategy {spec!r}: option {part!r} needs name=value")
            if name in options:
                raise ValueError(f"strategy {spec!r}: option {name!r} given twice")
            options[name] = value
        elif options:
            raise ValueError(f"strategy {spec!r}: model {part!r} after the options")
        else:
            models.append(_model(part, spec))
    return models, options


def _take(
    options: dict[str, str], allowed: dict[str, Callable[[str], Any]], spec: str
) -> dict[str, Any]:
    """The options converted; an unknown name or a bad value names the spec."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        names = ", ".join(allowed)
        raise ValueError(f"strategy {spec!r}: unknown option {unknown[0]!r} (takes {names})")
    taken: dict[str, Any] = {}
    for name, value in options.items():
        try:
            taken[name] = allowed[name](value)
        except ValueError as exc:
            raise ValueError(f"strategy {spec!r}: {name}={value!r}: {exc}") from None
    return taken


def _bounded(
    kind: type[int] | type[float], low: float, high: float, *, open_low: bool = False
) -> Callable[[str], Any]:
    side = "(" if open_low else "["
    what = "a whole number" if kind is int else "a number"

    def convert(value: str) -> Any:
        try:
            number = kind(value)
        except ValueError:
            raise ValueError(f"must be {what} in {side}{low}, {high}]") from None
        above = low < number if open_low else low <= number
        if number != number or not above or number > high:  # NaN fails too
            raise ValueError(f"must be {what} in {side}{low}, {high}]")
        return number + 0  # -0.0 -> 0.0: one canonical spec for one run

    return convert


def _fusion(value: str) -> str:
    if value not in FUSIONS:
        raise ValueError(f"must be one of {', '.join(FUSIONS)}")
    return value


def _judge(value: str) -> str:
    if not _MODEL.match(value):
        raise ValueError("must be a model id")
    return value


def _count(models: list[str], low: int, high: int, what: str, spec: str) -> tuple[str, ...]:
    """The members, within the gateway's limits; each once (the gateway refuses a model
    listed twice, a 400 on every item: refused here before anything is spent)."""
    if not low <= len(models) <= high:
        wanted = f"{low} to {high} models" if high > low else "one model"
        raise ValueError(f"strategy {spec!r}: {what} takes {wanted}, got {len(models)}")
    twice = sorted({m for m in models if models.count(m) > 1})
    if twice:
        raise ValueError(
            f"strategy {spec!r}: {twice[0]!r} is listed twice ({what} asks each model once; "
            "sample(MODEL, k=N) asks one model several times)"
        )
    return tuple(models)


def _sample(models: list[str], options: dict[str, str], spec: str) -> Strategy:
    (model,) = _count(models, 1, 1, "sample", spec)
    taken = _take(
        options, {"k": _bounded(int, 1, MAX_SAMPLES), "temperature": _bounded(float, 0, 2)}, spec
    )
    k, temperature = taken.get("k", 5), float(taken.get("temperature", 0.7))
    canonical = f"sample({model}, k={k}, temperature={temperature!r})"
    return Strategy(canonical, "sample", (model,), k=k, temperature=temperature)


def _panel(models: list[str], options: dict[str, str], spec: str) -> Strategy:
    chosen = _count(models, 1, MAX_PANEL, "a panel", spec)
    taken = _take(options, {"fusion": _fusion, "judge": _judge}, spec)
    fusion, judge = taken.get("fusion", "vote"), taken.get("judge")
    if judge is not None and fusion != "judge":
        raise ValueError(f"strategy {spec!r}: judge= applies only to fusion=judge")
    canonical = f"panel({', '.join(chosen)}, fusion={fusion}" + _judged(judge)
    return Strategy(canonical, "panel", chosen, fusion=fusion, judge=judge)


def _debate(models: list[str], options: dict[str, str], spec: str) -> Strategy:
    chosen = _count(models, *DEBATE_PARTICIPANTS, "a debate", spec)
    allowed = {
        "rounds": _bounded(int, 1, MAX_ROUNDS),
        "threshold": _bounded(float, 0, 1, open_low=True),
        "judge": _judge,
    }
    taken = _take(options, allowed, spec)
    rounds, threshold = taken.get("rounds", 3), float(taken.get("threshold", 0.8))
    judge = taken.get("judge")
    canonical = f"debate({', '.join(chosen)}, rounds={rounds}, threshold={threshold!r}" + _judged(
        judge
    )
    return Strategy(canonical, "debate", chosen, rounds=rounds, judge=judge, threshold=threshold)


def _judged(judge: str | None) -> str:
    return (f", judge={judge}" if judge else "") + ")"


_BUILDERS: dict[str, Callable[[list[str], dict[str, str], str], Strategy]] = {
    "sample": _sample,
    "sc": _sample,
    "panel": _panel,
    "debate": _debate,
}


@dataclass(frozen=True)
class Unserved:
    """A model a strategy (or the judge) names that ``GET /v1/models`` does not list.
    ``sure``: no served model has its name in any spelling the gateway resolves (the id,
    the name after the provider, :func:`canonical_name`); else it may be an alias."""

    who: str
    model: str
    sure: bool

    def describe(self) -> str:
        return f"{self.who}: model {self.model!r} is not served by the gateway"


def unserved(
    strategies: Sequence[Strategy], judge: str | None, models: Iterable[Mapping[str, Any]]
) -> list[Unserved]:
    """Every model named (members, ``judge=``, ``--judge``) that the gateway does not list:
    checked before anything is spent, so a typo is one line, not an error on every item.
    ``auto`` and ``auto:PROFILE`` always pass (the gateway picks)."""
    ids = {str(m.get("id")) for m in models if m.get("id")}
    names = {canonical_name(i) for i in ids}
    named = [(f"strategy {s.spec!r}", m) for s in strategies for m in (*s.models, s.judge) if m]
    if judge:
        named.append(("--judge", judge))
    missing = []
    for who, model in named:
        if model == "auto" or model.startswith("auto:") or model in ids:
            continue
        wanted = canonical_name(model)
        if wanted in names:
            continue
        sure = not any(wanted.startswith(name) for name in names)  # a dated alias, maybe
        missing.append(Unserved(who, model, sure))
    return missing
