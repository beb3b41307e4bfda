"""The chain steps: each a function of the stored run, writing its own result.

The same :class:`ChainSteps` runs in the Lambda tasks of the generic state machine (one
call per invocation, see ``orchestra.chain.machine``), in the local runner behind
``orchestra serve`` and ``orchestra chain run``, and in the tests. Events and answers carry
references (the run id, a step path, an item index), never outputs: those are stored.

- ``next``: what follows ``cursor`` in the stored chain (walking into a condition's
  recorded branch): ``single`` (one step), ``fan`` (a parallel step's branches or a map's
  items, by index) or ``done``.
- ``run``: one step (or one branch / item, with everything nested in it), its result
  written as its own document under its path; a failed top-level step fails the run.
- ``join``: a parallel step's branches combined (fusion strategy or template), or a map's
  item outputs as a list.
- ``finish`` / ``fail``: the outputs, or the error.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestra.catalog.source import CatalogSource
from orchestra.chain import calls
from orchestra.chain.cursor import after as cursor_after
from orchestra.chain.cursor import map_items
from orchestra.chain.document import Chain, ConditionStep, MapStep, ParallelStep, parse_chain
from orchestra.chain.failures import RUN_FAILED, cause, failure
from orchestra.chain.protocols import Completer
from orchestra.chain.store import ChainStore, Outcome, Run
from orchestra.chain.templates import as_text, parse
from orchestra.errors import WorkflowFailed
from orchestra.governance.admission import admitted_as
from orchestra.schemas.chain import ChainStep
from orchestra.schemas.chat import ChatMessage

if TYPE_CHECKING:
    from orchestra.governance.admission import Governor


@dataclass
class Loaded:
    """A run as one step sees it: the record, the parsed chain, the template context."""

    run: Run
    chain: Chain
    context: dict[str, Any]


def context_of(run: Run, chain: Chain) -> dict[str, Any]:
    """``inputs`` and ``steps.<id>.output`` of every succeeded step (map items excluded:
    their inner step's id repeats per item; a condition's output is its list's last)."""
    outputs = {
        s.id: {"output": s.output}
        for s in run.settled(chain).ordered()
        if s.id and s.status == "succeeded" and ".items[" not in s.path
    }
    return {"inputs": run.header.inputs, "steps": outputs}


class ChainSteps:
    """``governor``: with governance on, every model call of a step is admitted as the key
    that started the run (its budget, limits and spend), wherever the step runs."""

    def __init__(
        self,
        store: ChainStore,
        completer: Completer,
        catalog: CatalogSource,
        governor: Governor | None = None,
        max_concurrency: int = 16,
    ) -> None:
        self.store = store
        self.completer = completer
        self.catalog = catalog
        self.governor = governor
        self.max_concurrency = max_concurrency

    async def run(self, event: dict[str, Any]) -> dict[str, Any]:
        """One step from a state-machine event ``{"step": ..., "run_id": ..., ...}``."""
        step, run_id = event.get("step"), str(event.get("run_id") or "")
        cursor = str(event.get("cursor") or "")
        if step == "next":
            return await self.next(run_id, cursor)
        if step == "run":
            item = event.get("item")
            return await self.run_step(run_id, cursor, None if item is None else int(item))
        if step == "join":
            return await self.join(run_id, cursor)
        if step == "finish":
            return await self.finish(run_id)
        if step == "fail":
            return await self.fail(run_id, event.get("error"))
        raise WorkflowFailed(f"unknown chain step {step!r}")

    async def load(self, run_id: str) -> Loaded:
        run = await self.store.load(run_id)
        chain = parse_chain(run.header.chain)
        return Loaded(run, chain, context_of(run, chain))

    # next

    async def next(self, run_id: str, cursor: str) -> dict[str, Any]:
        loaded = await self.load(run_id)
        path = cursor_after(loaded.chain, loaded.run, cursor)
        answer: dict[str, Any] = {
            "run_id": run_id,
            "cursor": path or "",
            "kind": "done",
            "items": [],
        }
        if path is None:
            return answer
        step = loaded.chain.find(path)
        if isinstance(step, ParallelStep):
            return {**answer, "kind": "fan", "items": list(range(len(step.branches)))}
        if isinstance(step, MapStep):
            count = await self._map_count(loaded, step, path)
            return {**answer, "kind": "fan", "items": list(range(count))}
        return {**answer, "kind": "single"}

    async def _map_count(self, loaded: Loaded, step: MapStep, path: str) -> int:
        """How many items the map runs; too many (or no list to map over) fails the step."""
        started = time.time()
        try:
            items = map_items(step, loaded.context)
            if len(items) > step.max_items:
                raise WorkflowFailed(f"{len(items)} items, more than max_items {step.max_items}")
        except WorkflowFailed as exc:
            raise await self._failed(loaded, step, path, started, exc) from exc
        return len(items)

    async def _record(self, loaded: Loaded, result: ChainStep) -> ChainStep:
        await self.store.put_step(loaded.run.header.id, result)
        loaded.run.steps[result.path] = result
        return result

    # run

    async def run_step(self, run_id: str, cursor: str, item: int | None = None) -> dict[str, Any]:
        """One top-level (or condition-nested) step; or, with ``item``, one parallel branch
        or map item with everything nested in it (a failure there is recorded, and the
        ``join`` decides)."""
        loaded = await self.load(run_id)
        step = loaded.chain.find(cursor)
        if item is None:
            await self.execute(loaded, step, cursor, loaded.context, nested=False)
            return {"ok": True}
        try:
            if isinstance(step, ParallelStep):
                path = f"{cursor}.branches[{item}]"
                await self.execute(loaded, step.branches[item], path, loaded.context)
            else:
                assert isinstance(step, MapStep)
                values = map_items(step, loaded.context)
                scope = {**loaded.context, step.as_: values[item], "index": item}
                await self.execute(loaded, step.step, f"{cursor}.items[{item}]", scope)
        except Exception:  # recorded by execute: the join decides
            return {"ok": False}
        return {"ok": True}

    async def execute(
        self, loaded: Loaded, step: Any, path: str, scope: dict[str, Any], nested: bool = True
    ) -> ChainStep:
        """Run ``step`` at ``path`` and record its result (failed ones too, then raise).
        ``nested``: a condition runs its branch and a parallel/map step its parts here;
        at the top level the state machine does that."""
        started = time.time()
        try:
            async with admitted_as(self.governor, loaded.run.header.key_id):
                result = await self._execute(loaded, step, path, scope, nested)
        except Exception as exc:
            raise await self._failed(loaded, step, path, started, exc) from exc
        return await self._record(loaded, result)

    async def _failed(
        self, loaded: Loaded, step: Any, path: str, started: float, exc: Exception
    ) -> WorkflowFailed:
        """Record the step as failed (why, and the error's code); the error to raise."""
        message, code = failure(exc)
        failed = calls.result(step, path, started, status="failed", error=message, error_code=code)
        await self._record(loaded, failed)
        return WorkflowFailed(f"{path} ({step.id}): {message}", code=code)

    async def _execute(
        self, loaded: Loaded, step: Any, path: str, scope: dict[str, Any], nested: bool
    ) -> ChainStep:
        if step.kind == "generate":
            prompt = calls.render(step.prompt, scope) or ""
            system = calls.render(step.system, scope)
            messages = [ChatMessage(role="system", content=system)] if system else []
            messages.append(ChatMessage(role="user", content=prompt))
            return await calls.call(self.completer, step, path, messages, prompt)
        if step.kind == "conversation":
            return await self._converse(loaded, step, path, scope)
        if step.kind == "condition":
            return await self._condition(loaded, step, path, scope, nested)
        if not nested:
            raise WorkflowFailed(f"{path}: a {step.kind} step runs as a fan-out")
        if step.kind == "parallel":
            return await self._parallel(loaded, step, path, scope)
        return await self._map(loaded, step, path, scope)

    async def _converse(
        self, loaded: Loaded, step: Any, path: str, scope: dict[str, Any]
    ) -> ChainStep:
        """The thread's messages so far (its earlier steps' prompts and answers), then
        this prompt; the system message is the thread's first step's."""
        first = next(
            s.step
            for s in loaded.chain.walk()
            if s.step.kind == "conversation" and s.step.thread == step.thread
        )
        system = calls.render(first.system, scope)
        messages = [ChatMessage(role="system", content=system)] if system else []
        for earlier in loaded.run.ordered():
            if (
                earlier.thread == step.thread
                and earlier.path != path
                and earlier.status == "succeeded"
            ):
                messages.append(ChatMessage(role="user", content=as_text(earlier.input)))
                messages.append(ChatMessage(role="assistant", content=as_text(earlier.output)))
        prompt = calls.render(step.prompt, scope) or ""
        messages.append(ChatMessage(role="user", content=prompt))
        result = await calls.call(self.completer, step, path, messages, prompt)
        return result.model_copy(update={"thread": step.thread})

    async def _condition(
        self, loaded: Loaded, step: ConditionStep, path: str, scope: dict[str, Any], nested: bool
    ) -> ChainStep:
        started = time.time()
        value = parse(step.value).evaluate(scope)
        decision, done = await calls.decide(self.completer, step, value, scope)
        fields: dict[str, Any] = {"label": decision.label}
        if done is not None:
            fields.update(calls.measured(done))
        branch = "then" if decision.matched else "else"
        if nested:  # the list runs here; at the top level the machine walks into it
            local = {**scope, "steps": dict(scope["steps"])}
            for i, child in enumerate(step.then if decision.matched else step.else_):
                done_child = await self.execute(loaded, child, f"{path}.{branch}[{i}]", local)
                local["steps"][child.id] = {"output": done_child.output}
                fields["output"] = done_child.output
        return calls.result(step, path, started, input=value, branch=branch, **fields)

    async def _fan(self, jobs: list[Any]) -> list[ChainStep | BaseException]:
        gate = asyncio.Semaphore(self.max_concurrency)

        async def bounded(job: Any) -> ChainStep:
            async with gate:
                result: ChainStep = await job
                return result

        return list(await asyncio.gather(*(bounded(j) for j in jobs), return_exceptions=True))

    async def _parallel(
        self, loaded: Loaded, step: ParallelStep, path: str, scope: dict[str, Any]
    ) -> ChainStep:
        jobs = [
            self.execute(loaded, b, f"{path}.branches[{i}]", scope)
            for i, b in enumerate(step.branches)
        ]
        await self._fan(jobs)
        return await self._combined(loaded, step, path, scope)

    async def _map(
        self, loaded: Loaded, step: MapStep, path: str, scope: dict[str, Any]
    ) -> ChainStep:
        values = map_items(step, scope)
        if len(values) > step.max_items:
            raise WorkflowFailed(f"{len(values)} items, more than max_items {step.max_items}")
        jobs = [
            self.execute(
                loaded, step.step, f"{path}.items[{i}]", {**scope, step.as_: v, "index": i}
            )
            for i, v in enumerate(values)
        ]
        await self._fan(jobs)
        return self._listed(loaded, step, path, len(values), time.time())

    # join

    async def join(self, run_id: str, cursor: str) -> dict[str, Any]:
        loaded = await self.load(run_id)
        step = loaded.chain.find(cursor)
        started = time.time()
        try:
            if isinstance(step, ParallelStep):
                result = await self._combined(loaded, step, cursor, loaded.context)
            else:
                assert isinstance(step, MapStep)
                count = len(map_items(step, loaded.context))
                result = self._listed(loaded, step, cursor, count, started)
        except Exception as exc:
            raise await self._failed(loaded, step, cursor, started, exc) from exc
        await self._record(loaded, result)
        return {"ok": True}

    async def _combined(
        self, loaded: Loaded, step: ParallelStep, path: str, scope: dict[str, Any]
    ) -> ChainStep:
        started = time.time()
        parts = [loaded.run.steps.get(f"{path}.branches[{i}]") for i in range(len(step.branches))]
        done = [p for p in parts if p is not None and p.status == "succeeded"]
        if not done:
            raise WorkflowFailed(f"{step.id}: every branch failed")
        local = {
            **scope,
            "steps": {**scope["steps"], **{p.id: {"output": p.output} for p in done if p.id}},
        }
        catalog = await self.catalog.current()
        async with admitted_as(self.governor, loaded.run.header.key_id):
            output, judge, model = await calls.combine(self.completer, catalog, step, done, local)
        fields = calls.measured(judge) if judge is not None else {"model": model}
        fields["model"] = model
        return calls.result(step, path, started, output=output, **fields)

    def _listed(
        self, loaded: Loaded, step: MapStep, path: str, count: int, started: float
    ) -> ChainStep:
        items = [loaded.run.steps.get(f"{path}.items[{i}]") for i in range(count)]
        failed = [i for i, s in enumerate(items) if s is None or s.status != "succeeded"]
        if failed:
            raise WorkflowFailed(f"{step.id}: item(s) {failed[:10]} failed")
        outputs = [s.output for s in items if s is not None]
        return calls.result(step, path, started, input=count, output=outputs)

    # finish / fail

    async def finish(self, run_id: str) -> dict[str, Any]:
        loaded = await self.load(run_id)
        outputs = {k: parse(t).evaluate(loaded.context) for k, t in loaded.chain.outputs.items()}
        await self.store.finish(run_id, Outcome(status="succeeded", outputs=outputs))
        return {"status": "succeeded"}

    async def fail(self, run_id: str, error: Any) -> dict[str, Any]:
        """The run's error in plain words; its code is the first failed step's."""
        run = await self.store.get_run(run_id)
        steps = run.ordered() if run is not None else []
        codes = [s.error_code for s in steps if s.status == "failed" and s.error_code]
        outcome = Outcome(
            status="failed", error=cause(error), code=codes[0] if codes else RUN_FAILED
        )
        await self.store.finish(run_id, outcome)
        return {"status": "failed"}
