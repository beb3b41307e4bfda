"""The debate API's use case: validate, store, start (through a :class:`Starter`), show.

``start`` is idempotent twice over: an ``Idempotency-Key`` maps to one debate id (the same
key with a different request is a 409), and the execution is named after the debate id, so
Step Functions refuses to run one debate twice.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Protocol

from orchestra.caller import current_principal
from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.catalog.source import CatalogSource
from orchestra.debate.store import DebateStore
from orchestra.errors import DebateConflict, InvalidRequest
from orchestra.panel.selection import Selector
from orchestra.schemas.chat import ChatRequest, Usage
from orchestra.schemas.debate import Debate, DebateRequest, DebateStatus, DebateView, RoundView
from orchestra.schemas.multi import MultiOptions

CONSOLE = "https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{arn}"


class Starter(Protocol):
    """Runs a stored debate: Step Functions in AWS (``orchestra.storage.stepfunctions``),
    the in-process :class:`~orchestra.debate.runner.LocalRunner` otherwise."""

    #: starting the same debate twice runs it once, so a debate stored by an earlier call
    #: whose start failed may be started again
    idempotent: bool

    async def start(self, debate_id: str) -> str | None:
        """Start the debate's run; the Step Functions execution ARN, if there is one."""
        ...

    async def status(self, execution_arn: str) -> tuple[str, str | None]:
        """The run's live status (``RUNNING`` when unknown) and its error, if it failed."""
        ...

    async def aclose(self) -> None:
        """Stop what still runs in this process (shutdown, test teardown)."""
        ...


def debate_id_for(idempotency_key: str | None) -> str:
    """``dbt_`` + 26 hex: from the key (the same key, the same debate) or random."""
    if idempotency_key:
        return "dbt_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:26]
    return "dbt_" + uuid.uuid4().hex[:26]


def fingerprint(request: DebateRequest) -> str:
    return hashlib.sha256(request.model_dump_json().encode()).hexdigest()[:32]


class DebateService:
    def __init__(
        self,
        store: DebateStore,
        catalog: CatalogSource,
        selector: Selector,
        starter: Starter,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.selector = selector
        self.starter = starter

    async def start(self, request: DebateRequest, idempotency_key: str | None = None) -> Debate:
        """Store the debate and start its run (a repeated key: the same debate, not rerun)."""
        debate, created = await self.create(request, idempotency_key)
        if not created and (debate.execution_arn or not self.starter.idempotent):
            return debate
        # new, or stored by an earlier call whose start failed: start it (idempotent by name)
        arn = await self.starter.start(debate.id)
        if arn is not None:
            await self.store.set_execution(debate.id, arn)
            debate.execution_arn = arn
        return debate

    async def create(
        self, request: DebateRequest, idempotency_key: str | None = None
    ) -> tuple[Debate, bool]:
        """The stored debate, and whether this call created it."""
        debate_id = debate_id_for(idempotency_key)
        if idempotency_key and (found := await self.store.get(debate_id)) is not None:
            return self._same(found, request), False
        catalog = await self.catalog.current()
        participants = await self._participants(request, catalog)
        debate = Debate(
            id=debate_id,
            question=request.conversation(),
            participants=[m.id for m in participants],
            roles=request.roles,
            judge=self._judge(request, catalog, participants).id,
            max_rounds=request.max_rounds,
            threshold=request.threshold,
            turn_timeout_s=request.turn_timeout_s,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            created_at=time.time(),
            fingerprint=fingerprint(request),
            key_id=current_principal().key_id,
        )
        stored, created = await self.store.create(debate)
        return (stored, True) if created else (self._same(stored, request), False)

    @staticmethod
    def _same(found: Debate, request: DebateRequest) -> Debate:
        if found.fingerprint != fingerprint(request):
            raise DebateConflict(
                "This Idempotency-Key was used for a different debate request",
                param="Idempotency-Key",
            )
        return found

    async def _participants(self, request: DebateRequest, catalog: Catalog) -> list[ModelInfo]:
        chat = ChatRequest(
            model="auto", messages=request.conversation(), max_tokens=request.max_tokens
        )
        if isinstance(request.participants, int):
            options = MultiOptions(count=request.participants, profile=request.profile)
        else:
            options = MultiOptions(models=request.participants)
        selection = await self.selector.select(options, chat, catalog, param="participants")
        if selection.skipped:
            reasons = "; ".join(f"{m.id}: {why}" for m, why in selection.skipped)
            raise InvalidRequest(
                f"Some participants cannot take part ({reasons})", param="participants"
            )
        if len(selection.models) < 2:
            raise InvalidRequest(
                "A debate needs at least two available participants", param="participants"
            )
        return selection.models

    def _judge(
        self, request: DebateRequest, catalog: Catalog, participants: list[ModelInfo]
    ) -> ModelInfo:
        if request.judge is not None:
            return self.selector.named_auxiliary(catalog, request.judge, "judge")
        chat = ChatRequest(model="auto", messages=request.conversation())
        pool = self.selector.auxiliary_pool(catalog, chat)
        outside = self.selector.auxiliary(pool, [m.id for m in participants])
        return outside or self.selector.auxiliary(pool) or participants[0]

    async def view(self, debate_id: str) -> DebateView:
        debate = await self.store.load(debate_id)
        status, error = debate.status, debate.error
        if status == "RUNNING" and debate.execution_arn:
            live, live_error = await self.starter.status(debate.execution_arn)
            if live in ("FAILED", "TIMED_OUT", "ABORTED"):
                # the last step may have recorded why between our two reads: prefer it
                debate = await self.store.load(debate_id)
                status, error = "FAILED", debate.error or live_error or live
        return render(debate, status, error)


def render(debate: Debate, status: DebateStatus, error: str | None) -> DebateView:
    agreement = {r.round: r.agreement for r in debate.rounds}
    numbers = sorted({t.round for t in debate.turns})
    rounds = [
        RoundView(round=n, agreement=agreement.get(n), turns=debate.turns_of(n)) for n in numbers
    ]
    prompt = completion = 0
    for usage in [t.usage for t in debate.turns] + [debate.synthesis_usage]:
        if usage is not None:
            prompt, completion = prompt + usage.prompt_tokens, completion + usage.completion_tokens
    last = debate.rounds[-1].agreement if debate.rounds else None
    region = debate.execution_arn.split(":")[3] if debate.execution_arn else None
    return DebateView(
        id=debate.id,
        status=status,
        participants=debate.participants,
        judge=debate.judge,
        max_rounds=debate.max_rounds,
        threshold=debate.threshold,
        rounds=rounds,
        final_answer=debate.final_answer,
        note=debate.synthesis_note,
        converged=None if last is None or status == "RUNNING" else last >= debate.threshold,
        cost_usd=round(debate.cost_usd(), 10),
        usage=Usage.of(prompt, completion),
        error=error,
        execution_arn=debate.execution_arn,
        console_url=CONSOLE.format(region=region, arn=debate.execution_arn) if region else None,
    )
