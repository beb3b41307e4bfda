"""The debate steps: each a pure function of the stored debate, writing its own result.

The same :class:`DebateSteps` runs in the Lambda tasks of the state machine (one step per
invocation, see ``orchestra.debate.machine``), in the local runner behind
``orchestra serve``, and in the tests. Inputs and outputs are references and small
figures (ids, round numbers, agreement), never transcripts: the transcript is in storage.

- ``init``: the debate's participants and round limit (validated against the catalog).
- ``turn``: one participant answers (round 1) or revises (round > 1); a failure is recorded
  as that participant's turn and drops it from the following rounds.
- ``converge``: agreement among the round's answers (multi-generate's vote measure); stop
  when it reaches the threshold or the round limit; fewer than two answers fails the debate.
- ``synthesize``: the judge writes the final answer with a rationale and any dissent (if
  it fails, the majority answer stands, and the record says so).
- ``finalize`` / ``fail``: the outcome.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.catalog.source import CatalogSource
from orchestra.debate import prompts
from orchestra.debate.store import DebateStore, Outcome, Synthesis
from orchestra.errors import DebateFailed
from orchestra.fusion.strategies import Answer, clustering_of, vote
from orchestra.governance.admission import admitted_as
from orchestra.panel.fanout import FanOut, ModelRun
from orchestra.panel.summary import summary
from orchestra.schemas.debate import RoundSummary, Turn
from orchestra.states import cause_line

if TYPE_CHECKING:
    from orchestra.governance.admission import Governor


def agreement_of(turns: list[Turn], catalog: Catalog) -> tuple[float, str | None]:
    """The largest cluster's share of the answers, and its most central answer."""
    answers = [Answer.of(_model(catalog, t.participant), t.answer or "") for t in turns]
    if not answers:
        return 0.0, None
    clustering = clustering_of(answers)
    decision = vote(answers, clustering)
    return decision.agreement(), decision.content


def _model(catalog: Catalog, model_id: str) -> ModelInfo:
    if model_id in catalog:
        return catalog.get(model_id)
    return ModelInfo(id=model_id, context_window=1, input_price=0, output_price=0, quality=0)


class DebateSteps:
    """``governor``: with governance on, each step's model calls are admitted as the key
    that started the debate (its budget, limits and spend), wherever the step runs."""

    def __init__(
        self,
        store: DebateStore,
        catalog: CatalogSource,
        fanout: FanOut,
        governor: Governor | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.fanout = fanout
        self.governor = governor

    async def run(self, event: dict[str, Any]) -> dict[str, Any]:
        """One step from a state-machine event ``{"step": ..., "debate_id": ..., ...}``."""
        step = event.get("step")
        debate_id = str(event.get("debate_id") or "")
        if step == "init":
            return await self.init(debate_id)
        if step == "turn":
            return await self.turn(debate_id, _round(event), str(event.get("participant")))
        if step == "converge":
            return await self.converge(debate_id, _round(event))
        if step == "synthesize":
            return await self.synthesize(debate_id)
        if step == "finalize":
            return await self.finalize(debate_id)
        if step == "fail":
            return await self.fail(debate_id, event.get("error"))
        raise DebateFailed(f"unknown debate step {step!r}")

    async def init(self, debate_id: str) -> dict[str, Any]:
        debate = await self.store.load(debate_id)
        return {
            "debate_id": debate.id,
            "participants": debate.participants,
            "max_rounds": debate.max_rounds,
        }

    async def turn(self, debate_id: str, round_no: int, participant: str) -> dict[str, Any]:
        debate = await self.store.load(debate_id)
        catalog = await self.catalog.current()
        request = prompts.turn_request(debate, round_no, participant)
        async with admitted_as(self.governor, debate.key_id):
            model = catalog.get(participant)
            run = await self.fanout.call(model, request, debate.turn_timeout_s)
        turn = _turn_of(run, round_no, participant)
        await self.store.add_turn(debate_id, turn)
        return {"ok": turn.error is None}

    async def converge(self, debate_id: str, round_no: int) -> dict[str, Any]:
        debate = await self.store.load(debate_id)
        active = set(debate.active(round_no))
        answered = [t for t in debate.turns_of(round_no) if t.answer and t.participant in active]
        if len(answered) < 2:
            raise DebateFailed(
                f"round {round_no}: {len(answered)} participant(s) answered; a debate needs two"
            )
        agreement, _ = agreement_of(answered, await self.catalog.current())
        survivors = [t.participant for t in answered]
        await self.store.add_round(
            debate_id, RoundSummary(round=round_no, agreement=agreement, participants=survivors)
        )
        stop = agreement >= debate.threshold or round_no >= debate.max_rounds
        return {"stop": stop, "agreement": agreement, "participants": survivors}

    async def synthesize(self, debate_id: str) -> dict[str, Any]:
        debate = await self.store.load(debate_id)
        last = debate.rounds[-1] if debate.rounds else None
        if last is None:
            raise DebateFailed("nothing to synthesise: no round was completed")
        turns = [t for t in debate.turns_of(last.round) if t.answer]
        catalog = await self.catalog.current()
        request = prompts.synthesis_request(debate, turns, last.agreement)
        async with admitted_as(self.governor, debate.key_id):
            judge = catalog.get(debate.judge)
            run = await self.fanout.call(judge, request, debate.turn_timeout_s)
        usage, _ = run.usage()
        if run.status == "ok":
            result = Synthesis(
                final_answer=run.text().strip(), usage=usage, cost_usd=run.cost_usd()
            )
        else:
            _, majority = agreement_of(turns, catalog)
            note = f"the judge {debate.judge} failed ({summary(run.error)}): the majority answer stands"
            result = Synthesis(
                final_answer=majority, usage=usage, cost_usd=run.cost_usd(), note=note
            )
        await self.store.set_synthesis(debate_id, result)
        return {"ok": run.status == "ok"}

    async def finalize(self, debate_id: str) -> dict[str, Any]:
        await self.store.finish(debate_id, Outcome(status="SUCCEEDED"))
        return {"status": "SUCCEEDED"}

    async def fail(self, debate_id: str, error: Any) -> dict[str, Any]:
        await self.store.finish(debate_id, Outcome(status="FAILED", error=cause_line(error)))
        return {"status": "FAILED"}


def _round(event: dict[str, Any]) -> int:
    try:
        return int(event["round"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DebateFailed(f"malformed step event: no round number in {sorted(event)}") from exc


def _turn_of(run: ModelRun, round_no: int, participant: str) -> Turn:
    usage, _ = run.usage()
    turn = Turn(
        round=round_no,
        participant=participant,
        latency_ms=round(run.latency_ms, 2),
        usage=usage,
        cost_usd=run.cost_usd(),
    )
    if run.status != "ok":
        turn.error = summary(run.error)
        return turn
    changed, why, answer = prompts.read_stance(run.text())
    turn.answer = answer
    if round_no > 1:
        turn.changed, turn.why = changed, why
    return turn
