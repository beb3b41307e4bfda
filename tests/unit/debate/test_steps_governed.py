"""A debate holds against its creator's budget: the creator's key id is stored with the
debate, and every step that calls a model is admitted as that key."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from orchestra.caller import Principal, set_principal
from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.catalog.source import CatalogSource
from orchestra.config import Settings
from orchestra.debate.steps import DebateSteps
from orchestra.debate.store import DebateStore
from orchestra.governance.admission import Admission, Governor, current_admission
from orchestra.governance.records import KeyPolicy
from orchestra.panel.fanout import ModelRun
from orchestra.schemas.chat import AssistantMessage, ChatMessage, ChatResponse, Choice
from orchestra.schemas.debate import Debate
from orchestra.storage.memory import MemoryDebateBackend

from support.governance import FakeLedger, FakePolicies

DEBATE_ID = "dbt_" + "d" * 26
MODEL = ModelInfo(id="p/a", context_window=8000, input_price=0, output_price=0, quality=1)


class Recording:
    """A fan-out that records the admission each call ran under."""

    def __init__(self) -> None:
        self.admissions: list[Admission | None] = []

    async def call(self, model: ModelInfo, request: Any, budget: float) -> ModelRun:
        self.admissions.append(current_admission.get())
        run = ModelRun(model, status="ok")
        message = AssistantMessage(content="ANSWER: 42")
        run.response = ChatResponse(model=model.id, choices=[Choice(message=message)])
        return run


async def test_a_debates_turns_are_admitted_as_its_creator() -> None:
    # Given a debate started by the key "ci-bot", whose policy has a budget
    store = DebateStore(MemoryDebateBackend())
    debate = Debate(
        id=DEBATE_ID,
        question=[ChatMessage(role="user", content="6 x 7?")],
        participants=["p/a"],
        judge="p/a",
        max_rounds=1,
        threshold=0.8,
        turn_timeout_s=5,
        max_tokens=64,
        created_at=time.time(),
        key_id="ci-bot",
    )
    await store.create(debate)
    policies = FakePolicies(keys={"ci-bot": KeyPolicy(key_id="ci-bot", budget_day_usd=Decimal(1))})
    governor = Governor(Settings(), policies=policies, ledger=FakeLedger())
    fanout = Recording()
    steps = DebateSteps(store, CatalogSource(base=Catalog([MODEL])), fanout, governor)  # type: ignore[arg-type]
    # When a turn runs in a context of its own (a Lambda task, the local runner)
    set_principal(Principal("someone-else"))
    await steps.turn(DEBATE_ID, 1, "p/a")
    # Then its model call was admitted as ci-bot, with ci-bot's ledger scope
    [admission] = fanout.admissions
    assert admission is not None and admission.key_id == "ci-bot"
    assert [(s.kind, s.id) for s in admission.scopes] == [("key", "ci-bot")]
    # And the admission does not outlive the step
    assert current_admission.get() is None
    # And the key id is kept with the stored debate
    assert (await store.load(DEBATE_ID)).key_id == "ci-bot"
