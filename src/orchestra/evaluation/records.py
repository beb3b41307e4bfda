"""What an evaluation reads and writes: dataset items, a strategy's outcome for an item,
its grade, the lines of ``results.jsonl`` and the run's manifest (``run.json``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: how an item is graded: normalised exact match, a multiple-choice letter, a judge model
ItemKind = Literal["exact", "choice", "judge"]


class Item(BaseModel):
    """One question of a dataset."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: the file's ``id`` when it has one, else ``L<line number>`` (1-based)
    id: str
    kind: ItemKind
    question: str
    #: exact: the gold answer (GSM8K: the number after ``####``); choice: the right letter
    #: (``"B"``); judge: the reference answer the judge compares with
    answer: str
    choices: list[str] | None = None
    #: judge items: what a good answer must do (a default rubric applies when absent)
    rubric: str | None = None


class Dataset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: ``gsm8k`` or the file's stem
    name: str
    path: str
    #: sha256 of the file's bytes, first 16 hex digits: a rerun must read the same file
    fingerprint: str
    #: items in the file
    total: int
    #: the items to run: the file's, shuffled by the seed, the first ``limit`` of them
    items: list[Item]


class Sample(BaseModel):
    """One model's answer inside an outcome: a self-consistency sample, a panel member,
    a debate turn (``round`` set)."""

    model: str
    answer: str | None = None
    round: int | None = None
    error: str | None = None
    #: set by grading for exact and choice items (None: not graded)
    correct: bool | None = None


class Outcome(BaseModel):
    """What the gateway gave for one item under one strategy."""

    answer: str | None = None
    #: who answered: the routed model, the panel's winner, the debate's judge
    model: str | None = None
    cost_usd: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: upstream calls made (attempts, samples, panel members, judge, debate turns)
    calls: int = 0
    #: the item's wall time at the client, all its calls included
    latency_ms: float = 0.0
    #: fused strategies: the gateway's confidence (panel), the vote's share (samples), the
    #: last round's agreement (debate)
    confidence: float | None = None
    agreement: float | None = None
    #: debates: the rounds run
    rounds: int | None = None
    samples: list[Sample] = Field(default_factory=list)
    #: the answer's finish reason (``length``: cut off at ``--max-tokens``); None if unknown
    finish_reason: str | None = None
    #: the item failed: ``"<status> <code>: <message>"``; the rest is what was spent
    error: str | None = None
    #: the failure may pass on a rerun (429, 5xx, a timeout): a rerun tries it again
    retryable: bool = False


class Grade(BaseModel):
    correct: bool
    #: 1.0 or 0.0 for exact and choice; the judge's score of the answer (0..1), averaged
    #: over both orders
    score: float
    #: what the grader read as the answer ("18", "B"); None when it found none
    extracted: str | None = None
    #: judge: the answer's score in each order (answer shown first, then second)
    orders: list[float] | None = None
    judge: str | None = None
    #: grading's own spend (judge calls), kept apart from the strategy's
    cost_usd: float = 0.0
    calls: int = 0


class Result(BaseModel):
    """One line of ``results.jsonl``: a strategy's graded answer to an item."""

    strategy: str
    item: str
    outcome: Outcome
    #: None when the outcome failed (counted wrong, and as an error, in the report), or
    #: when grading failed (``grading_error``)
    grade: Grade | None = None
    #: unix time the line was written
    at: float
    #: the answer is kept but grading it failed (the judge unreachable, unknown...): a rerun
    #: grades it again without asking the gateway for the answer again
    grading_error: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.strategy, self.item)

    @property
    def correct(self) -> bool:
        return self.grade is not None and self.grade.correct

    @property
    def ungraded(self) -> bool:
        """An answer whose grading failed: not a result yet (the report leaves it out)."""
        return self.grade is None and self.outcome.error is None

    @property
    def final(self) -> bool:
        """Whether a rerun keeps it: graded, or failed for good (not retryable). An ungraded
        answer never is: a grading failure says nothing about the strategy."""
        if self.grade is not None:
            return True
        return self.outcome.error is not None and not self.outcome.retryable


class Manifest(BaseModel):
    """``run.json``: what the results beside it answer; a rerun must match it."""

    #: 2: ``max_tokens`` and ``judge`` recorded (and checked on a rerun)
    version: int = 2
    dataset: str
    fingerprint: str
    seed: int
    created_at: float
    #: the endpoint measured (None: in-process)
    base_url: str | None = None
    #: the in-process gateway answered with the simulator (its oracle: the dataset)
    simulated: bool = False
    #: ``--max-tokens`` and ``--judge`` (None: picked): answers under other limits or another
    #: judge would not compare (None in a manifest written before they were recorded)
    max_tokens: int | None = None
    judge: str | None = None
    #: ``--temperature`` (None: each provider's default): answers drawn hotter or colder
    #: would not compare either
    temperature: float | None = None
