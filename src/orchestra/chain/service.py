"""The chain API's use case: store definitions, start runs (through a :class:`Starter`), show.

``start`` is idempotent twice over, as the debate's: an ``Idempotency-Key`` maps to one run
id (the same key with a different request is a 409), and the execution is named after the
run id. Limits are checked before anything is stored: the chain's size, depth and fan-out,
its worst-case cost against the chain's and the gateway's caps, and, when the caller's key
has a budget, a hold of that estimate through the governor's ledger (released at once: the
run's own calls hold and settle as they go), so a run that cannot fit is refused up front.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from orchestra.caller import current_principal
from orchestra.catalog.source import CatalogSource
from orchestra.chain.document import Chain, parse_chain
from orchestra.chain.failures import RUN_FAILED, STOPPED, cause
from orchestra.chain.limits import Estimate
from orchestra.chain.protocols import Starter
from orchestra.chain.store import ChainStore, Run, RunHeader, StoredChain
from orchestra.errors import WorkflowConflict, WorkflowNotFound
from orchestra.governance.admission import current_admission
from orchestra.governance.records import to_nanos
from orchestra.schemas.chain import (
    ChainDefinition,
    ChainList,
    ChainRunRequest,
    ChainRunStarted,
    ChainRunView,
    ChainSaved,
    InlineChainRunRequest,
    RunStatus,
)
from orchestra.schemas.chat import Usage

CONSOLE = "https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{arn}"
#: checks a chain (with the run's inputs) against the limits before a run starts: the
#: estimate (its worst-case cost), or :class:`InvalidRequest` naming the limit
LimitCheck = Callable[[Chain, Mapping[str, Any]], Awaitable[Estimate]]


def run_id_for(idempotency_key: str | None) -> str:
    """``chrun_`` + 26 hex: from the key (the same key, the same run) or random."""
    if idempotency_key:
        return "chrun_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:26]
    return "chrun_" + uuid.uuid4().hex[:26]


def fingerprint(chain: dict[str, Any], inputs: dict[str, Any]) -> str:
    text = json.dumps({"chain": chain, "inputs": inputs}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def step_count(chain: Chain) -> int:
    return sum(1 for _ in chain.walk())


class ChainService:
    def __init__(
        self,
        store: ChainStore,
        catalog: CatalogSource,
        starter: Starter,
        check: LimitCheck | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.starter = starter
        self.check = check

    async def put(self, name: str, chain: Chain) -> ChainSaved:
        """A validated chain as ``name``'s next version (the same document: the same one)."""
        stored, _ = await self.store.save(name, chain.document())
        return ChainSaved(
            name=name, version=stored.version, created_at=stored.created_at, steps=step_count(chain)
        )

    async def get(self, name: str, version: int | None = None) -> ChainDefinition:
        stored = await self.store.load_chain(name, version)
        chain = parse_chain(stored.chain)
        return ChainDefinition(
            name=name,
            version=stored.version,
            created_at=stored.created_at,
            steps=step_count(chain),
            chain=stored.chain,
        )

    async def list(self, after: str | None, limit: int) -> ChainList:
        """Up to ``limit`` chains after the one named ``after`` (newest first)."""
        names = [name for name, _ in await self.store.names()]
        start = 0
        if after is not None:
            if after not in names:
                raise WorkflowNotFound(f"No chain named '{after}' to list after", param="after")
            start = names.index(after) + 1
        page = names[start : start + limit]
        data = [await self._saved(name) for name in page]
        return ChainList(
            data=data,
            first_id=page[0] if page else None,
            last_id=page[-1] if page else None,
            has_more=start + limit < len(names),
        )

    async def _saved(self, name: str) -> ChainSaved:
        stored = await self.store.load_chain(name)
        steps = step_count(parse_chain(stored.chain))
        return ChainSaved(
            name=name, version=stored.version, created_at=stored.created_at, steps=steps
        )

    async def start_named(
        self, name: str, request: ChainRunRequest, idempotency_key: str | None = None
    ) -> Run:
        stored = await self.store.load_chain(name, request.version)
        return await self._start(stored, parse_chain(stored.chain), request.inputs, idempotency_key)

    async def start_inline(
        self, request: InlineChainRunRequest, idempotency_key: str | None = None
    ) -> Run:
        return await self._start(None, parse_chain(request.chain), request.inputs, idempotency_key)

    async def _start(
        self,
        stored: StoredChain | None,
        chain: Chain,
        given: dict[str, Any],
        idempotency_key: str | None,
    ) -> Run:
        """Check, store and start the run (a repeated key: the same run, not rerun)."""
        inputs = chain.with_inputs(given)
        document = chain.document()
        header = RunHeader(
            id=run_id_for(idempotency_key),
            chain=document,
            name=stored.name if stored else chain.name,
            version=stored.version if stored else None,
            inputs=inputs,
            key_id=current_principal().key_id,
            fingerprint=fingerprint(document, inputs),
            created_at=time.time(),
        )
        if idempotency_key and (found := await self.store.get_run(header.id)) is not None:
            return await self._resume(self._same(found, header))
        estimate = await self._within_limits(chain, inputs)
        if estimate is not None:
            header.estimate_usd = round(estimate.total_usd, 9)  # what is held, in nanos
        stored_header, created = await self.store.create(header)
        run = await self.store.load(stored_header.id)
        return await self._resume(run if created else self._same(run, header), fresh=created)

    async def _resume(self, run: Run, fresh: bool = False) -> Run:
        if not fresh and (run.execution_arn or not self.starter.idempotent):
            return run
        # new, or stored by an earlier call whose start failed: start it (idempotent by name)
        arn = await self.starter.start(run.header.id)
        if arn is not None:
            await self.store.set_execution(run.header.id, arn)
            run.execution_arn = arn
        return run

    @staticmethod
    def _same(found: Run, header: RunHeader) -> Run:
        if found.header.fingerprint != header.fingerprint:
            raise WorkflowConflict(
                "This Idempotency-Key was used for a different chain run request",
                param="Idempotency-Key",
            )
        return found

    async def _within_limits(self, chain: Chain, inputs: Mapping[str, Any]) -> Estimate | None:
        """Size, depth, fan-out and cost caps; then the caller's budget, through a hold of
        the worst case that is released at once (its refusal is the 429 any call over
        budget gets): a run that cannot fit is refused before its first call."""
        if self.check is None:
            return None
        estimate = await self.check(chain, inputs)
        admission = current_admission.get()
        if admission is None or admission.ledger is None or not admission.scopes:
            return estimate
        if estimate.total_usd <= 0:
            return estimate
        hold, _ = await admission.ledger.hold(
            admission.scopes, to_nanos(estimate.total_usd), 0, count_request=False
        )
        await admission.ledger.release(hold)
        return estimate

    async def view(self, run_id: str) -> ChainRunView:
        run = await self.store.load(run_id)
        run = run.settled(parse_chain(run.header.chain))
        return render(run, *await self.state(run))

    async def started(self, run: Run) -> ChainRunStarted:
        """``POST .../runs``' answer: a new run is running; a replayed one says where it
        is now, as ``GET`` would."""
        status, _, _ = await self.state(run)
        return ChainRunStarted(
            id=run.header.id,
            status=status,
            status_url=f"/v1/chains/runs/{run.header.id}",
            chain=run.header.name,
            version=run.header.version,
            source="inline" if run.header.version is None else "stored",
            created_at=int(run.header.created_at),
            execution_arn=run.execution_arn,
        )

    async def state(self, run: Run) -> tuple[RunStatus, str | None, str | None]:
        """The run's status, error and error code: its recorded outcome, else (deployed)
        what Step Functions says of its execution."""
        if run.outcome is not None:
            if run.outcome.status == "succeeded":
                return "succeeded", None, None
            return "failed", run.outcome.error, run.outcome.code or RUN_FAILED
        if not run.execution_arn:
            return "running", None, None
        live, live_error = await self.starter.status(run.execution_arn)
        if live not in ("FAILED", "TIMED_OUT", "ABORTED"):
            return "running", None, None
        again = await self.store.load(run.header.id)  # the last step may have recorded why
        if again.outcome is not None and again.outcome.error:
            return "failed", again.outcome.error, again.outcome.code or RUN_FAILED
        return "failed", cause(live_error if live_error in STOPPED else live), RUN_FAILED


def render(run: Run, status: RunStatus, error: str | None, code: str | None = None) -> ChainRunView:
    steps = run.ordered()
    prompt = completion = 0
    for step in steps:
        if step.usage is not None:
            prompt += step.usage.prompt_tokens
            completion += step.usage.completion_tokens
    started = [s.started_at for s in steps if s.started_at]
    finished = [s.finished_at for s in steps if s.finished_at]
    span = round((max(finished) - min(started)) * 1000, 2) if started and finished else None
    arn = run.execution_arn
    region = arn.split(":")[3] if arn else None
    return ChainRunView(
        id=run.header.id,
        status=status,
        chain=run.header.name,
        version=run.header.version,
        source="inline" if run.header.version is None else "stored",
        inputs=run.header.inputs,
        steps=steps,
        outputs=run.outcome.outputs if run.outcome else None,
        cost_usd=round(sum(s.cost_usd for s in steps), 10),
        usage=Usage.of(prompt, completion),
        latency_ms=span,
        created_at=int(run.header.created_at),
        estimate_usd=run.header.estimate_usd,
        error=error,
        error_code=code,
        execution_arn=arn,
        console_url=CONSOLE.format(region=region, arn=arn) if region else None,
    )
