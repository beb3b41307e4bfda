"""The work inside one chain step: a model call, a condition's test, a parallel combine.

Kept apart from ``chain.steps`` (which decides what runs where and stores results) so each
stays small. Every function takes the rendered context and returns a :class:`ChainStep`
result to store; model calls go through the :class:`Completer` (the normal route).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.chain.conditions import Decision, compile_when
from orchestra.chain.limits import JUDGE_MAX_TOKENS
from orchestra.chain.protocols import Completer, Completion
from orchestra.chain.templates import as_text, parse
from orchestra.errors import WorkflowFailed
from orchestra.fusion import strategies
from orchestra.fusion.prompts import judge_request, parse_verdict
from orchestra.schemas.chain import ChainStep
from orchestra.schemas.chat import ChatMessage, ChatRequest

Context = Mapping[str, Any]
_FUSION = {
    "vote": strategies.vote,
    "rank": strategies.rank,
    "merge": strategies.merge_sections,
    "first": strategies.first,
}


def render(template: str | None, context: Context) -> str | None:
    return None if template is None else parse(template).render(context)


def result(step: Any, path: str, started: float, **fields: Any) -> ChainStep:
    return ChainStep(
        id=getattr(step, "id", None),
        path=path,
        kind=step.kind,
        started_at=round(started, 3),
        finished_at=round(time.time(), 3),
        **fields,
    )


def measured(done: Completion) -> dict[str, Any]:
    return {
        "model": done.model,
        "latency_ms": round(done.latency_ms, 2),
        "usage": done.usage,
        "cost_usd": done.cost_usd,
    }


def request_of(step: Any, messages: list[ChatMessage]) -> ChatRequest:
    fields: dict[str, Any] = {"model": step.model, "messages": messages}
    fields["max_tokens"] = step.max_tokens
    if step.temperature is not None:
        fields["temperature"] = step.temperature
    schema = getattr(step, "output_schema", None)
    if schema is not None:
        named = {"name": f"{step.id}_output", "schema": schema}
        fields["response_format"] = {"type": "json_schema", "json_schema": named}
    return ChatRequest(**fields)


def parsed_output(step: Any, text: str) -> Any:
    """The step's output: its text, or the parsed JSON when it asked for a schema."""
    if getattr(step, "output_schema", None) is None:
        return text
    body = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, re.DOTALL)
    try:
        return json.loads(fenced.group(1) if fenced else body)
    except ValueError as exc:
        raise WorkflowFailed(
            f"{step.id}: the answer is not the JSON its output_schema asks for"
        ) from exc


async def call(
    completer: Completer, step: Any, path: str, messages: list[ChatMessage], prompt: str
) -> ChainStep:
    """One model call; its result (``output`` parsed per the step's schema)."""
    started = time.time()
    done = await completer.complete(request_of(step, messages))
    output = parsed_output(step, done.text)
    return result(step, path, started, input=prompt, output=output, **measured(done))


# conditions


async def decide(
    completer: Completer, step: Any, value: Any, context: Context
) -> tuple[Decision, Completion | None]:
    """The condition's test (``conditions.compile_when``: one implementation of each rule);
    a classify test's one model call is made here, through the normal route."""
    test = compile_when(step.when)
    if not test.needs_model:
        return test.decide(value), None
    classify = step.when.classify
    prompt = render(classify.prompt, {**context, "value": value}) or ""
    if not any(ref.root == "value" for ref in parse(classify.prompt).references()):
        prompt = f"{prompt}\n\n<text>\n{as_text(value)}\n</text>"  # the value, always shown
    ask = test.request(prompt)
    request = ChatRequest(
        model=ask.model,
        messages=[ChatMessage(**m) for m in ask.messages()],
        max_tokens=ask.max_tokens,
        temperature=0,
    )
    done = await completer.complete(request)
    return test.decide(value, done.text), done


# parallel combine


def _model(catalog: Catalog, model_id: str | None) -> ModelInfo:
    if model_id and model_id in catalog:
        return catalog.get(model_id)
    return ModelInfo(
        id=model_id or "unknown", context_window=1, input_price=0, output_price=0, quality=0
    )


async def combine(
    completer: Completer,
    catalog: Catalog,
    step: Any,
    branches: Sequence[ChainStep],
    context: Context,
) -> tuple[Any, Completion | None, str | None]:
    """The parallel step's output from its succeeded branches: a template, or a fusion
    strategy; the judge's call (if any) and the chosen branch's model."""
    how = step.combine
    if how.template is not None:
        return parse(how.template).evaluate(context), None, None
    answers = [strategies.Answer.of(_model(catalog, b.model), as_text(b.output)) for b in branches]
    clustering = strategies.clustering_of(answers)
    if how.strategy != "judge":
        decision = _FUSION[how.strategy or "first"](answers, clustering)
        chosen = branches[decision.winner].model if decision.winner is not None else None
        return decision.content, None, chosen
    asked = [ChatMessage(role="user", content=as_text(b.input)) for b in branches[:1]]
    request = judge_request(asked, [a.text for a in answers])
    update = {"model": how.judge or "auto", "max_tokens": JUDGE_MAX_TOKENS}
    request = request.model_copy(update=update)
    done = await completer.complete(request)
    verdict = parse_verdict(done.text, len(answers))
    index = (
        verdict.index if verdict is not None else strategies.vote(answers, clustering).winner or 0
    )
    return branches[index].output, done, branches[index].model
