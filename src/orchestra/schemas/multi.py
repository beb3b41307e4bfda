"""``POST /v1/multi-generate`` wire models: a chat request plus fan-out options, and the answer.

The request body is a chat completion body (``messages``, ``temperature``, ``max_tokens``...
validated by :class:`~orchestra.schemas.chat.ChatRequest`, the vendor parameters listed in
``CHAT_PARAMETERS`` passed through) plus the options below; ``model`` may be omitted. Any
other field is refused, naming it: a misspelt option (``stratgy``) is never sent to the
models as a chat field while the default strategy quietly applies. The response is a ``chat.completion``
whose ``choices[0]`` is the fused answer, plus the evidence behind it.

Every model here is declared with ``defer_build``: its validator is built at first use,
so the generate function, which serves no multi-generate, does not pay for it at a cold start;
a SnapStart prewarm builds it before the snapshot (``orchestra.aws_lambda.app``).
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestra.errors import InvalidRequest
from orchestra.schemas.chat import CHAT_PARAMETERS, ChatRequest, Choice, Usage, new_completion_id

Strategy = Literal["vote", "rank", "merge", "first", "judge"]
Status = Literal["ok", "error", "cancelled", "skipped"]


class MultiOptions(BaseModel):
    """What to fan out to and how to fuse; every other body field belongs to the chat."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    models: list[str] | None = Field(default=None, min_length=1, max_length=16)
    count: int | None = Field(default=None, ge=1, le=16)
    profile: str | None = None
    strategy: Strategy = "vote"
    #: per-model budget, seconds (retries included)
    timeout_s: float | None = Field(default=None, gt=0, le=900)
    #: the whole request's budget, seconds (fusion included); capped by the server
    deadline_s: float | None = Field(default=None, gt=0, le=900)
    #: stop once this many answers agree (vote) or arrived (other strategies)
    quorum: int | None = Field(default=None, ge=1)
    judge: str | None = Field(default=None, min_length=1, max_length=256)
    #: merge: the model that writes the merged answer; "auto" (default) or "none"
    synthesizer: str | None = Field(default=None, min_length=1, max_length=256)
    #: how similar two answers must be (0..1) to count as the same answer
    similarity_threshold: float = Field(default=0.8, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _consistent(self) -> MultiOptions:
        if self.models is not None and self.count is not None:
            raise ValueError("give either 'models' or 'count', not both")
        if self.models is not None and self.profile is not None:
            raise ValueError("'profile' picks models for 'count'; it cannot be used with 'models'")
        if self.judge is not None and self.strategy != "judge":
            raise ValueError("'judge' applies only to strategy 'judge'")
        if self.synthesizer is not None and self.strategy != "merge":
            raise ValueError("'synthesizer' applies only to strategy 'merge'")
        if self.strategy == "first" and self.quorum not in (None, 1):
            raise ValueError("strategy 'first' returns the first answer: quorum must be 1")
        wanted = len(self.models) if self.models is not None else self.count
        if self.quorum is not None and wanted is not None and self.quorum > wanted:
            raise ValueError(f"quorum {self.quorum} is more than the {wanted} models asked for")
        return self


OPTION_FIELDS = frozenset(MultiOptions.model_fields)
KNOWN_FIELDS = OPTION_FIELDS | CHAT_PARAMETERS


def unknown_field(name: str) -> InvalidRequest:
    """A 400 naming a field that is neither an option nor a chat parameter."""
    import difflib  # only to suggest a name for a misspelt field

    close = difflib.get_close_matches(name, sorted(KNOWN_FIELDS), n=1, cutoff=0.75)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return InvalidRequest(
        f"Unrecognized request argument supplied: '{name}'{hint}; multi-generate takes its "
        "own options and chat-completion parameters only",
        param=name,
        code="unknown_parameter",
    )


class MultiGenerateRequest(BaseModel):
    model_config = ConfigDict(defer_build=True)

    options: MultiOptions
    chat: ChatRequest

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> MultiGenerateRequest:
        """Split one JSON object into options and chat; both validated, errors located."""
        if unknown := next((k for k in body if k not in KNOWN_FIELDS), None):
            raise unknown_field(unknown)
        options = {k: v for k, v in body.items() if k in OPTION_FIELDS}
        chat = {k: v for k, v in body.items() if k not in OPTION_FIELDS}
        chat.setdefault("model", "auto")
        return cls(
            options=MultiOptions.model_validate(options), chat=ChatRequest.model_validate(chat)
        )


class ErrorInfo(BaseModel):
    model_config = ConfigDict(defer_build=True)

    message: str
    type: str
    code: str
    status: int


class ModelResult(BaseModel):
    """One model's part: its answer or error, time, tokens and cost."""

    model_config = ConfigDict(defer_build=True)

    model: str
    provider: str
    status: Status
    answer: str | None = None
    finish_reason: str | None = None
    latency_ms: float | None = None
    usage: Usage | None = None
    #: tokens estimated (a cancelled call, or a vendor that reported none)
    usage_estimated: bool = False
    cost_usd: float = 0.0
    error: ErrorInfo | None = None
    attempts: list[str] = Field(default_factory=list)
    #: index into ``fusion.clusters``
    cluster: int | None = None
    #: strategy "rank": this answer's score (0..1)
    score: float | None = None


class ClusterInfo(BaseModel):
    model_config = ConfigDict(defer_build=True)

    models: list[str]
    share: float
    #: the cluster's normalised final answer ("42", "choice:B", a folded phrase)
    key: str


class AuxiliaryCall(BaseModel):
    """The judge's or the synthesiser's own call."""

    model_config = ConfigDict(defer_build=True)

    model: str
    status: Status
    latency_ms: float | None = None
    usage: Usage | None = None
    cost_usd: float = 0.0
    error: ErrorInfo | None = None
    #: judge: the answer it picked (a model id) and why
    picked: str | None = None
    reason: str | None = None


class FusionDetail(BaseModel):
    model_config = ConfigDict(defer_build=True)

    #: the method that produced the answer ("vote" when a judge failed and vote stood in)
    applied: Strategy
    note: str | None = None
    clusters: list[ClusterInfo] = Field(default_factory=list)
    judge: AuxiliaryCall | None = None
    synthesizer: AuxiliaryCall | None = None
    #: quorum asked for: whether it was reached before the others were cancelled
    quorum_reached: bool | None = None


class MultiGenerateResponse(BaseModel):
    model_config = ConfigDict(defer_build=True)

    id: str = Field(default_factory=new_completion_id)
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    #: the winner's id, or ``orchestra/fusion:<strategy>`` when no single model won
    model: str
    choices: list[Choice]
    usage: Usage
    strategy: Strategy
    agreement: float
    confidence: float
    winner: str | None
    cost_usd: float
    latency_ms: float
    results: list[ModelResult]
    fusion: FusionDetail
