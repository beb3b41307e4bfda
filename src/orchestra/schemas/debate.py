"""Debate wire models: ``POST /v1/debates`` in, ``GET /v1/debates/{id}`` out, and the record.

A debate is stored as one header item and one item per turn (see ``debate.store``); the
state machine's payloads carry only the debate id and the round number.

Every model here is declared with ``defer_build``: its validator is built at first use,
so the generate function, which serves no debates, does not pay for it at a cold start;
a SnapStart prewarm builds it before the snapshot (``orchestra.aws_lambda.app``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestra.schemas.chat import ChatMessage, Usage

#: Step Functions' words, used locally too
DebateStatus = Literal["RUNNING", "SUCCEEDED", "FAILED"]
MAX_PARTICIPANTS = 6
MAX_ROUNDS = 10


class DebateRequest(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    question: str | None = Field(default=None, min_length=1, max_length=32_000)
    messages: list[ChatMessage] | None = Field(default=None, min_length=1)
    #: model ids, or how many the router should pick (diverse makers first)
    participants: list[str] | int = 3
    profile: str | None = None
    max_rounds: int = Field(default=3, ge=1, le=MAX_ROUNDS)
    #: stop once this share of the participants agree (same measure as multi-generate's vote)
    threshold: float = Field(default=0.8, gt=0.0, le=1.0)
    judge: str | None = Field(default=None, min_length=1, max_length=256)
    #: per turn, retries included; at most 120 s, inside the state machine's turn timeout
    turn_timeout_s: float = Field(default=60.0, gt=0.0, le=120.0)
    #: optional personas, one per participant ("a sceptical statistician", ...)
    roles: list[str] | None = None
    max_tokens: int = Field(default=1024, ge=16, le=8192)
    temperature: float | None = Field(default=None, ge=0, le=2)

    @model_validator(mode="after")
    def _consistent(self) -> DebateRequest:
        if (self.question is None) == (self.messages is None):
            raise ValueError("give either 'question' or 'messages'")
        count = self.participants if isinstance(self.participants, int) else None
        if count is not None and not 2 <= count <= MAX_PARTICIPANTS:
            raise ValueError(f"'participants' must be between 2 and {MAX_PARTICIPANTS}")
        if isinstance(self.participants, list):
            if not 2 <= len(self.participants) <= MAX_PARTICIPANTS:
                raise ValueError(f"a debate needs 2 to {MAX_PARTICIPANTS} participants")
            if self.profile is not None:
                raise ValueError("'profile' picks participants for a count; not with a list")
        size = count if count is not None else len(self.participants)  # type: ignore[arg-type]
        if self.roles is not None and len(self.roles) != size:
            raise ValueError("give one role per participant")
        return self

    def conversation(self) -> list[ChatMessage]:
        if self.messages is not None:
            return self.messages
        return [ChatMessage(role="user", content=self.question)]


class Turn(BaseModel):
    """One participant's answer in one round (or the error that dropped it)."""

    model_config = ConfigDict(defer_build=True)

    round: int
    participant: str
    answer: str | None = None
    #: round > 1: whether the participant changed its position, and its stated reason
    changed: bool | None = None
    why: str | None = None
    error: str | None = None
    latency_ms: float = 0.0
    usage: Usage | None = None
    cost_usd: float = 0.0


class RoundSummary(BaseModel):
    model_config = ConfigDict(defer_build=True)

    round: int
    agreement: float
    #: participants still in the debate after this round
    participants: list[str]


class Debate(BaseModel):
    """The stored debate: the header's fields and every turn."""

    model_config = ConfigDict(defer_build=True)

    id: str
    status: DebateStatus = "RUNNING"
    question: list[ChatMessage]
    participants: list[str]
    roles: list[str] | None = None
    judge: str
    max_rounds: int
    threshold: float
    turn_timeout_s: float
    max_tokens: int
    temperature: float | None = None
    created_at: float
    rounds: list[RoundSummary] = Field(default_factory=list)
    turns: list[Turn] = Field(default_factory=list)
    final_answer: str | None = None
    synthesis_usage: Usage | None = None
    synthesis_cost_usd: float = 0.0
    synthesis_note: str | None = None
    error: str | None = None
    execution_arn: str | None = None
    #: a hash of the request, to tell a repeated Idempotency-Key from a reused one
    fingerprint: str | None = None
    #: the id of the key that started the debate: its steps hold against its budget
    key_id: str | None = None

    def turns_of(self, round_no: int) -> list[Turn]:
        return sorted((t for t in self.turns if t.round == round_no), key=lambda t: t.participant)

    def active(self, round_no: int) -> list[str]:
        """Who takes part in round ``round_no``: everyone at first, then last round's survivors."""
        previous = [r for r in self.rounds if r.round == round_no - 1]
        return previous[0].participants if previous else list(self.participants)

    def cost_usd(self) -> float:
        return sum(t.cost_usd for t in self.turns) + self.synthesis_cost_usd


class RoundView(BaseModel):
    model_config = ConfigDict(defer_build=True)

    round: int
    agreement: float | None
    turns: list[Turn]


class DebateView(BaseModel):
    """``GET /v1/debates/{id}``."""

    model_config = ConfigDict(defer_build=True)

    id: str
    object: Literal["debate"] = "debate"
    status: DebateStatus
    participants: list[str]
    judge: str
    max_rounds: int
    threshold: float
    rounds: list[RoundView]
    final_answer: str | None
    #: set when the judge failed and the majority answer stood in
    note: str | None = None
    converged: bool | None
    cost_usd: float
    usage: Usage
    error: str | None = None
    execution_arn: str | None = None
    console_url: str | None = None


class DebateStarted(BaseModel):
    """``POST /v1/debates`` -> 202."""

    model_config = ConfigDict(defer_build=True)

    id: str
    object: Literal["debate"] = "debate"
    status: DebateStatus
    status_url: str
    participants: list[str]
    judge: str
    execution_arn: str | None = None
