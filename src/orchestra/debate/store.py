"""Debates in storage: one document per fact, so no step ever rewrites another's.

Sort keys under the debate id: ``header`` (the request, written once), ``round#0001``
(agreement and survivors), ``turn#0001#<participant>``, ``execution`` (the Step Functions
ARN) and ``outcome`` (status, final answer, error). Turns of one round are written by
parallel Map iterations; each has its own key, so they never conflict, and a retried step
rewrites only its own document. Reading a debate is one query.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from orchestra.errors import DebateNotFound
from orchestra.schemas.chat import Usage
from orchestra.schemas.debate import Debate, DebateStatus, RoundSummary, Turn
from orchestra.storage.expiry import ExpiringStore
from orchestra.storage.protocols import DebateBackend

HEADER, EXECUTION, SYNTHESIS, OUTCOME = "header", "execution", "synthesis", "outcome"


def round_key(round_no: int) -> str:
    return f"round#{round_no:04d}"


def turn_key(round_no: int, participant: str) -> str:
    return f"turn#{round_no:04d}#{participant}"


class Synthesis(BaseModel):
    #: built at first use, like the debate wire models (``orchestra.schemas.debate``)
    model_config = ConfigDict(defer_build=True)

    final_answer: str | None
    usage: Usage | None = None
    cost_usd: float = 0.0
    #: set when the judge failed and the majority answer stood in
    note: str | None = None


class Outcome(BaseModel):
    model_config = ConfigDict(defer_build=True)

    status: DebateStatus
    error: str | None = None


class DebateStore(ExpiringStore[DebateBackend]):
    async def create(self, debate: Debate) -> tuple[Debate, bool]:
        """Store a new debate; an existing one with that id is returned instead (idempotent)."""
        header = debate.model_dump_json(exclude={"rounds", "turns"})
        if await self.backend.put_new(debate.id, HEADER, header, self._expires()):
            return debate, True
        return await self.load(debate.id), False

    async def get(self, debate_id: str) -> Debate | None:
        docs = await self.backend.load(debate_id)
        if HEADER not in docs:
            return None
        debate = Debate.model_validate_json(docs[HEADER])
        for key in sorted(docs):
            doc = docs[key]
            if key.startswith("round#"):
                debate.rounds.append(RoundSummary.model_validate_json(doc))
            elif key.startswith("turn#"):
                debate.turns.append(Turn.model_validate_json(doc))
            elif key == EXECUTION:
                debate.execution_arn = doc
            elif key == SYNTHESIS:
                synthesis = Synthesis.model_validate_json(doc)
                debate.final_answer = synthesis.final_answer
                debate.synthesis_usage = synthesis.usage
                debate.synthesis_cost_usd = synthesis.cost_usd
                debate.synthesis_note = synthesis.note
            elif key == OUTCOME:
                outcome = Outcome.model_validate_json(doc)
                debate.status, debate.error = outcome.status, outcome.error
        return debate

    async def load(self, debate_id: str) -> Debate:
        debate = await self.get(debate_id)
        if debate is None:
            raise DebateNotFound(f"No debate with id '{debate_id}'", param="debate_id")
        return debate

    async def add_turn(self, debate_id: str, turn: Turn) -> None:
        key = turn_key(turn.round, turn.participant)
        await self.backend.put(debate_id, key, turn.model_dump_json(), self._expires())

    async def add_round(self, debate_id: str, summary: RoundSummary) -> None:
        key = round_key(summary.round)
        await self.backend.put(debate_id, key, summary.model_dump_json(), self._expires())

    async def set_execution(self, debate_id: str, arn: str) -> None:
        await self.backend.put(debate_id, EXECUTION, arn, self._expires())

    async def set_synthesis(self, debate_id: str, synthesis: Synthesis) -> None:
        doc = synthesis.model_dump_json()
        await self.backend.put(debate_id, SYNTHESIS, doc, self._expires())

    async def finish(self, debate_id: str, outcome: Outcome) -> None:
        await self.backend.put(debate_id, OUTCOME, outcome.model_dump_json(), self._expires())
