"""Chain wire models: the answers of ``/v1/chains*``, and the step record a run stores.

A run is stored as one header, one document per step result and its outcome (see
``chain.store``); ``GET /v1/chains/runs/{id}`` reads them back as :class:`ChainRunView`.
Declared with ``defer_build`` like the debate's: functions that serve no chains do not
build them at a cold start.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestra.schemas.chat import Usage

RunStatus = Literal["running", "succeeded", "failed"]
StepStatus = Literal["succeeded", "failed"]
#: a run of a stored chain (``POST /v1/chains/{name}/runs``) or of an inline document
RunSource = Literal["stored", "inline"]


class ChainStep(BaseModel):
    """One step's result (a top-level step, a condition's nested step, a parallel branch
    or one map item), written by the invocation that ran it."""

    model_config = ConfigDict(defer_build=True)

    id: str | None = None
    #: where it sits in the chain: ``steps[2].then[0]``, ``steps[1].branches[0]``,
    #: ``steps[3].items[4]``
    path: str
    kind: str
    status: StepStatus = "succeeded"
    #: the rendered prompt (or a condition's rendered value, a map's item)
    input: Any = None
    output: Any = None
    model: str | None = None
    latency_ms: float | None = None
    usage: Usage | None = None
    cost_usd: float = 0.0
    error: str | None = None
    #: a failed step's error code (``model_not_found``, ``upstream_server_error``...)
    error_code: str | None = None
    #: epoch seconds: stored to the millisecond, shown whole (ints) by the API
    started_at: float | None = None
    finished_at: float | None = None
    #: a condition's branch taken (``then`` / ``else``)
    branch: str | None = None
    #: a conversation step's thread
    thread: str | None = None
    #: a classify condition's label (the model's answer, matched to one of the labels)
    label: str | None = None


class ChainSaved(BaseModel):
    """``PUT /v1/chains/{name}``'s answer."""

    model_config = ConfigDict(defer_build=True)

    object: Literal["chain"] = "chain"
    name: str
    version: int
    created_at: int
    steps: int


class ChainDefinition(ChainSaved):
    """``GET /v1/chains/{name}``: the stored version and its document."""

    chain: dict[str, Any]


class ChainList(BaseModel):
    """``GET /v1/chains``: stored chains (their latest versions), newest first; the ids
    are the chains' names (``after`` takes one)."""

    model_config = ConfigDict(defer_build=True)

    object: Literal["list"] = "list"
    data: list[ChainSaved]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False


class ChainRunRequest(BaseModel):
    """``POST /v1/chains/{name}/runs``."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    inputs: dict[str, Any] = Field(default_factory=dict)
    version: int | None = Field(default=None, ge=1)


class InlineChainRunRequest(BaseModel):
    """``POST /v1/chains/runs``: the chain document in the body."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    chain: dict[str, Any]
    inputs: dict[str, Any] = Field(default_factory=dict)


class ChainRunStarted(BaseModel):
    """``POST .../runs``' 202 (a replay of its Idempotency-Key: the run's status now)."""

    model_config = ConfigDict(defer_build=True)

    id: str
    object: Literal["chain.run"] = "chain.run"
    status: RunStatus
    status_url: str
    #: the stored chain's name, or an inline document's own ``name`` (else null)
    chain: str | None = None
    #: the stored chain's version; null for an inline chain
    version: int | None = None
    source: RunSource = "stored"
    created_at: int | None = None
    execution_arn: str | None = None


class ChainRunView(BaseModel):
    """``GET /v1/chains/runs/{id}``."""

    model_config = ConfigDict(defer_build=True)

    id: str
    object: Literal["chain.run"] = "chain.run"
    status: RunStatus
    chain: str | None = None
    version: int | None = None
    source: RunSource = "stored"
    inputs: dict[str, Any] = Field(default_factory=dict)
    steps: list[ChainStep] = Field(default_factory=list)
    outputs: dict[str, Any] | None = None
    cost_usd: float = 0.0
    usage: Usage | None = None
    latency_ms: float | None = None
    created_at: int | None = None
    #: why the run failed, in plain words (which step, and why)
    error: str | None = None
    #: the failed run's error code (its first failed step's, else ``chain_failed``)
    error_code: str | None = None
    execution_arn: str | None = None
    console_url: str | None = None
    #: the worst-case cost checked (and held against the key's budget) before the start
    estimate_usd: float | None = None


def wire(model: BaseModel) -> str:
    """A chain answer as JSON: every top-level field present (null when it does not
    apply, as OpenAI's objects are), a step's unset fields left out, times whole seconds."""
    shown = model.model_dump(mode="json", exclude_none=True)
    doc = {name: shown.get(name) for name in type(model).model_fields}
    steps = doc.get("steps")
    if isinstance(steps, list):
        doc["steps"] = [_step(s) for s in steps]
    return json.dumps(doc, ensure_ascii=False)


def _step(step: dict[str, Any]) -> dict[str, Any]:
    for key in ("started_at", "finished_at"):
        if key in step:
            step[key] = int(step[key])
    return step
