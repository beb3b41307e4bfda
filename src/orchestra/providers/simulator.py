"""The local simulator: clearly labelled stand-in models for a gateway with no keys.

Used only when no real provider is configured (or ``ORCHESTRA_SIMULATOR=true``). Several
simulated models with different price, latency and accuracy; deterministic for a seed;
their answers to simple arithmetic and factual questions sometimes disagree, so fusion and
debate have something to show locally. Latency and failure rate are configurable, so it
doubles as the upstream for benchmarks and fault-injection tests.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import json
import operator
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from orchestra.errors import Overloaded, ProviderTimeout, RateLimited, ServerError
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.schemas.chat import (
    AssistantMessage,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    Usage,
    new_completion_id,
)
from orchestra.tokens import estimate_prompt_tokens, estimate_text_tokens

LABEL = "orchestra-simulator"


@dataclass(frozen=True)
class SimulatedModel:
    accuracy: float  # chance a checkable answer is right
    ttft_ms: float  # time to first token
    tokens_per_s: float


SIMULATED_MODELS: dict[str, SimulatedModel] = {
    "sim-large": SimulatedModel(accuracy=0.95, ttft_ms=120, tokens_per_s=80),
    "sim-medium": SimulatedModel(accuracy=0.85, ttft_ms=60, tokens_per_s=150),
    "sim-small": SimulatedModel(accuracy=0.6, ttft_ms=25, tokens_per_s=400),
    "sim-long": SimulatedModel(accuracy=0.8, ttft_ms=150, tokens_per_s=100),
}

FACTS: dict[str, tuple[str, str]] = {
    # keyword -> (right answer, a plausible wrong one)
    "capital of france": ("Paris", "Lyon"),
    "capital of australia": ("Canberra", "Sydney"),
    "capital of canada": ("Ottawa", "Toronto"),
    "capital of japan": ("Tokyo", "Kyoto"),
    "largest planet": ("Jupiter", "Saturn"),
    "speed of light": ("about 299,792 km/s", "about 300,000 miles/s"),
    "boiling point of water": ("100 degrees Celsius at sea level", "90 degrees Celsius"),
    "author of hamlet": ("William Shakespeare", "Christopher Marlowe"),
}

_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
#: fusion's judge prompt: the candidates, and the last user turn of the conversation
_CANDIDATE = re.compile(r"<answer number=\d+>\n(.*?)\n</answer>", re.DOTALL)
_ASKED = re.compile(r"USER: (.*?)\n*</conversation>", re.DOTALL)
#: the debate's prompts: the other participants' answers, and this participant's own
_DEBATER = re.compile(r'<answer from="[^"]*">\n(.*?)\n</answer>', re.DOTALL)
_YOURS = re.compile(r"<your_answer>\n(.*?)\n</your_answer>", re.DOTALL)
_EXPR = re.compile(r"[-+]?\(?\d[\d\s.+\-*/%()x\u00d7\u00f7^]*\d\)?")


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        right = _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 12:
            raise ValueError("exponent too large")
        return float(_OPS[type(node.op)](_evaluate(node.left), right))
    raise ValueError("not arithmetic")


def solve_arithmetic(text: str) -> float | None:
    """The value of the first arithmetic expression in ``text``, if there is one."""
    for match in _EXPR.finditer(text):
        expr = match.group().replace("\u00d7", "*").replace("x", "*").replace("\u00f7", "/")
        expr = expr.replace("^", "**")
        if not any(op in expr for op in "+-*/%"):
            continue
        try:
            return _evaluate(ast.parse(expr.strip(), mode="eval").body)
        except (SyntaxError, ValueError, ZeroDivisionError, OverflowError):
            continue
    return None


def _fmt(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.4g}"


class SimulatorEngine:
    """Deterministic answers: same seed, model and prompt -> same text."""

    def __init__(self, seed: int = 7) -> None:
        self.seed = seed

    def _draw(self, *parts: str) -> float:
        digest = hashlib.blake2b("\x1f".join((str(self.seed), *parts)).encode(), digest_size=8)
        return int.from_bytes(digest.digest(), "big") / 2**64

    def answer(self, model: str, request: ChatRequest) -> str:
        question = next((m.text() for m in reversed(request.messages) if m.role == "user"), "")
        candidates = _CANDIDATE.findall(question)
        if candidates and "<conversation>" in question:
            return self._judge(model, question, candidates)
        debaters = _DEBATER.findall(question)
        if debaters and "<your_answer>" in question:
            return self._revise(model, question, debaters)
        if debaters and "The debate ended" in question:
            return self._synthesise(debaters)
        return self._reply(model, question)

    def _revise(self, model: str, prompt: str, others: list[str]) -> str:
        """A debate revision: keep an answer the others share, else often adopt theirs."""
        from orchestra.fusion.answers import normalize

        mine = _YOURS.search(prompt)
        own = mine[1].strip() if mine else ""
        keys = [normalize(o).key for o in others]
        majority = max(set(keys), key=keys.count)
        if normalize(own).key == majority or keys.count(majority) * 2 <= len(keys):
            return f"CHANGED: no - the others agree with me, or did not convince me.\n{own}"
        unanimous = len(set(keys)) == 1 and len(keys) >= 2
        if unanimous or self._draw(model, prompt, "persuaded") < 0.8:
            adopted = others[keys.index(majority)]
            return f"CHANGED: yes - the other participants' answer holds up.\n{adopted}"
        return f"CHANGED: no - I still think I am right.\n{own}"

    def _synthesise(self, answers: list[str]) -> str:
        """A debate judge: the majority answer, its support, and the dissent."""
        from orchestra.fusion.answers import normalize

        keys = [normalize(a).key for a in answers]
        majority = max(set(keys), key=keys.count)
        final = answers[keys.index(majority)]
        dissent = len(keys) - keys.count(majority)
        lines = [final, f"Rationale: {keys.count(majority)} of {len(keys)} participants agree."]
        if dissent:
            lines.append(f"Dissent: {dissent} participant(s) answered differently.")
        return "\n".join(lines)

    def _judge(self, model: str, prompt: str, candidates: list[str]) -> str:
        """Judging (fusion's judge prompt): pick the candidate that matches its own answer."""
        from orchestra.fusion.agreement import similarity
        from orchestra.fusion.answers import normalize

        asked = _ASKED.search(prompt)
        own = normalize(self._reply(model, asked[1].strip() if asked else ""))
        scores = [similarity(own, normalize(c)) for c in candidates]
        best = max(range(len(candidates)), key=lambda i: (scores[i], -i))
        reason = "it agrees with my own answer" if scores[best] >= 0.8 else "none matched mine"
        return json.dumps({"best": best + 1, "reason": f"Answer {best + 1}: {reason}."})

    def _reply(self, model: str, question: str) -> str:
        spec = SIMULATED_MODELS.get(model, SIMULATED_MODELS["sim-medium"])
        right = self._draw(model, question, "right") < spec.accuracy
        value = solve_arithmetic(question)
        if value is not None:
            if not right:
                value += 1 if self._draw(model, question, "delta") < 0.5 else -1
            return f"The answer is {_fmt(value)}."
        lowered = question.lower()
        for key, (good, bad) in FACTS.items():
            if key in lowered:
                return f"The answer is {good if right else bad}."
        return self._generic(model, question)

    def _generic(self, model: str, question: str) -> str:
        words = re.findall(r"[A-Za-z][\w'-]*", question)[:12]
        topic = " ".join(words) or "your message"
        style = ["In short", "Briefly", "To summarise", "Put simply"]
        lead = style[int(self._draw(model, question, "style") * len(style))]
        return (
            f"{lead}: this is a simulated reply from {model} about {topic!r}. "
            "Configure a real provider key to get real answers."
        )


class SimulatorProvider:
    """A Provider backed by :class:`SimulatorEngine`, with latency and fault injection."""

    def __init__(self, config: ProviderConfig, engine: SimulatorEngine | None = None) -> None:
        self.name = config.name
        opts = config.options
        self.engine = engine or SimulatorEngine(int(opts.get("seed", 7)))
        self.latency_scale = float(opts.get("latency_scale", 1.0))
        self.failure_rate = float(opts.get("failure_rate", 0.0))
        self._calls = 0

    async def _maybe_fail(self, model: str) -> None:
        self._calls += 1
        if self.failure_rate <= 0:
            return
        draw = self.engine._draw(model, "fault", str(self._calls))
        if draw >= self.failure_rate:
            return
        kinds = (ServerError, Overloaded, RateLimited, ProviderTimeout)
        kind = kinds[int(draw / self.failure_rate * len(kinds)) % len(kinds)]
        status = {ServerError: 500, Overloaded: 503, RateLimited: 429, ProviderTimeout: 504}[kind]
        raise kind(
            f"simulated {status} from {model}",
            provider=self.name,
            model=model,
            upstream_status=status,
        )

    def _spec(self, model: str) -> SimulatedModel:
        return SIMULATED_MODELS.get(model, SIMULATED_MODELS["sim-medium"])

    async def _sleep(self, ms: float, options: CallOptions, model: str) -> None:
        seconds = ms * self.latency_scale / 1000.0
        if seconds > options.timeout:
            await asyncio.sleep(options.timeout)
            raise ProviderTimeout("simulated timeout", provider=self.name, model=model)
        if seconds > 0:
            await asyncio.sleep(seconds)

    def _usage(self, request: ChatRequest, text: str) -> Usage:
        return Usage.of(estimate_prompt_tokens(request), estimate_text_tokens(text))

    async def complete(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> ChatResponse:
        await self._maybe_fail(model)
        text = self.engine.answer(model, request)
        spec = self._spec(model)
        usage = self._usage(request, text)
        total_ms = spec.ttft_ms + usage.completion_tokens / spec.tokens_per_s * 1000
        await self._sleep(total_ms, options, model)
        return ChatResponse(
            model=model,
            choices=[Choice(message=AssistantMessage(content=text), finish_reason="stop")],
            usage=usage,
        )

    async def stream(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> AsyncIterator[ChatChunk]:
        await self._maybe_fail(model)
        text = self.engine.answer(model, request)
        spec = self._spec(model)
        await self._sleep(spec.ttft_ms, options, model)
        cid = new_completion_id()
        yield ChatChunk(id=cid, model=model, choices=[ChunkChoice(delta=Delta(role="assistant"))])
        pieces = re.findall(r"\S+\s*", text)
        for piece in pieces:
            await self._sleep(1000 / spec.tokens_per_s, options, model)
            yield ChatChunk(id=cid, model=model, choices=[ChunkChoice(delta=Delta(content=piece))])
        yield ChatChunk(
            id=cid, model=model, choices=[ChunkChoice(delta=Delta(), finish_reason="stop")]
        )
        yield ChatChunk(id=cid, model=model, choices=[], usage=self._usage(request, text))
