"""Chains and chain runs in the workflows records (key layout: docs/workflows.md).

Definitions: ``chain#<name>`` / ``v#000001``... (the validated document and its digest,
kept until deleted) and ``chain#<name>`` / ``latest`` (a pointer); listing ``chains`` /
``<name>``. Runs: ``chainrun#<id>`` / ``header`` (written once: the chain snapshot, inputs,
key, fingerprint), ``step#<path>`` (one document per step result, so parallel branches and
map items never write the same item, and a retried step rewrites only its own),
``execution`` and ``outcome``. Reading a run is one query.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orchestra.chain.document import Chain, ConditionStep
from orchestra.errors import WorkflowConflict, WorkflowNotFound
from orchestra.schemas.chain import ChainStep
from orchestra.storage.expiry import ExpiringStore
from orchestra.storage.protocols import RecordBackend

HEADER, EXECUTION, OUTCOME, LATEST = "header", "execution", "outcome", "latest"


def digest(chain: dict[str, Any]) -> str:
    """The document's identity: the same document PUT twice is the same version."""
    return hashlib.sha256(json.dumps(chain, sort_keys=True).encode()).hexdigest()[:32]


def path_order(path: str) -> tuple[Any, ...]:
    """A step path's natural order (``steps[2]`` before ``steps[10]``)."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path))


class StoredChain(BaseModel):
    model_config = ConfigDict(defer_build=True)

    name: str
    version: int
    created_at: int
    digest: str
    chain: dict[str, Any]


class RunHeader(BaseModel):
    model_config = ConfigDict(defer_build=True)

    id: str
    chain: dict[str, Any]
    name: str | None = None
    version: int | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    key_id: str | None = None
    fingerprint: str = ""
    created_at: float = 0.0
    #: the worst-case cost checked before the start (USD); None when nothing was checked
    estimate_usd: float | None = None


class Outcome(BaseModel):
    model_config = ConfigDict(defer_build=True)

    status: str
    outputs: dict[str, Any] | None = None
    error: str | None = None
    #: the failed run's error code (its first failed step's, else ``chain_failed``)
    code: str | None = None


class Run(BaseModel):
    """A run as read back: its header, every step result by path, and how it ended."""

    model_config = ConfigDict(defer_build=True)

    header: RunHeader
    steps: dict[str, ChainStep] = Field(default_factory=dict)
    execution_arn: str | None = None
    outcome: Outcome | None = None

    def ordered(self) -> list[ChainStep]:
        return [self.steps[p] for p in sorted(self.steps, key=path_order)]

    def settled(self, chain: Chain) -> Run:
        """The run with each condition's output filled in: the output of the last step of
        the list it took (None for an empty list or one still running). Derived, not
        stored: at the top level that list runs after the condition's own invocation, so a
        reference to the condition and the run view see the same value either way."""
        steps = dict(self.steps)
        for located in reversed(list(chain.walk())):  # inner conditions first
            step, done = located.step, steps.get(located.path)
            if not isinstance(step, ConditionStep) or done is None or done.branch is None:
                continue
            taken = step.then if done.branch == "then" else step.else_
            last = steps.get(f"{located.path}.{done.branch}[{len(taken) - 1}]") if taken else None
            output = last.output if last is not None and last.status == "succeeded" else None
            steps[located.path] = done.model_copy(update={"output": output})
        return self.model_copy(update={"steps": steps})


class ChainStore(ExpiringStore[RecordBackend]):
    # definitions

    async def save(self, name: str, chain: dict[str, Any]) -> tuple[StoredChain, bool]:
        """Store ``chain`` as ``name``'s next version (unless it is the latest already)."""
        found = digest(chain)
        for _ in range(5):  # a concurrent PUT took the number: read again and retry
            latest = await self.get(name)
            if latest is not None and latest.digest == found:
                return latest, False
            version = latest.version + 1 if latest is not None else 1
            stored = StoredChain(
                name=name, version=version, created_at=int(self._clock()), digest=found, chain=chain
            )
            if await self.backend.put_new(
                f"chain#{name}", f"v#{version:06d}", stored.model_dump_json(), None
            ):
                pointer = json.dumps({"version": version, "created_at": stored.created_at})
                await self.backend.put(f"chain#{name}", LATEST, pointer, None)
                await self.backend.put("chains", name, pointer, None)
                return stored, True
        raise WorkflowConflict(f"chain '{name}' is being changed concurrently; retry", param="name")

    async def get(self, name: str, version: int | None = None) -> StoredChain | None:
        if version is None:
            pointer = await self.backend.get(f"chain#{name}", LATEST)
            if pointer is None:
                return None
            version = int(json.loads(pointer)["version"])
        doc = await self.backend.get(f"chain#{name}", f"v#{version:06d}")
        return StoredChain.model_validate_json(doc) if doc is not None else None

    async def names(self) -> list[tuple[str, int]]:
        """Every stored chain as (name, its latest version's created_at), newest first (a
        tie by name). One query of the ``chains`` listing partition: definitions are few,
        and its sort key is the name, so the order is made here; a listing doc written
        before it carried ``created_at`` costs one read of that chain."""
        found: list[tuple[str, int]] = []
        for name, doc in (await self.backend.load("chains")).items():
            created = json.loads(doc).get("created_at")
            if created is None:
                stored = await self.get(name)
                created = stored.created_at if stored is not None else 0
            found.append((name, int(created)))
        return sorted(found, key=lambda item: (-item[1], item[0]))

    async def load_chain(self, name: str, version: int | None = None) -> StoredChain:
        stored = await self.get(name, version)
        if stored is None:
            which = f"chain '{name}'" + (f" version {version}" if version else "")
            raise WorkflowNotFound(f"No {which}", param="version" if version else "name")
        return stored

    # runs

    async def create(self, header: RunHeader) -> tuple[RunHeader, bool]:
        """Store a new run; an existing one with that id is returned instead (idempotent)."""
        pk = "chainrun#" + header.id
        if await self.backend.put_new(pk, HEADER, header.model_dump_json(), self._expires()):
            return header, True
        return (await self.load(header.id)).header, False

    async def get_run(self, run_id: str) -> Run | None:
        docs = await self.backend.load("chainrun#" + run_id)
        if HEADER not in docs:
            return None
        run = Run(header=RunHeader.model_validate_json(docs[HEADER]))
        for key, doc in docs.items():
            if key.startswith("step#"):
                step = ChainStep.model_validate_json(doc)
                run.steps[step.path] = step
            elif key == EXECUTION:
                run.execution_arn = doc
            elif key == OUTCOME:
                run.outcome = Outcome.model_validate_json(doc)
        return run

    async def load(self, run_id: str) -> Run:
        run = await self.get_run(run_id)
        if run is None:
            raise WorkflowNotFound(f"No chain run with id '{run_id}'", param="run_id")
        return run

    async def put_step(self, run_id: str, step: ChainStep) -> None:
        pk, doc = "chainrun#" + run_id, step.model_dump_json(exclude_none=True)
        await self.backend.put(pk, "step#" + step.path, doc, self._expires())

    async def set_execution(self, run_id: str, arn: str) -> None:
        await self.backend.put("chainrun#" + run_id, EXECUTION, arn, self._expires())

    async def finish(self, run_id: str, outcome: Outcome) -> None:
        doc = outcome.model_dump_json()
        await self.backend.put("chainrun#" + run_id, OUTCOME, doc, self._expires())
