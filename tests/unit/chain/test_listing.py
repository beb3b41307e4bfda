"""``GET /v1/chains``' use case: the stored chains, newest first, paged by name."""

from __future__ import annotations

import json

import pytest

from orchestra.chain.document import parse_chain
from orchestra.chain.service import ChainService
from orchestra.chain.store import ChainStore
from orchestra.errors import WorkflowNotFound
from orchestra.storage.memory import MemoryRecordBackend

from support.chains import catalog

ONE = {"steps": [{"id": "a", "kind": "generate", "model": "up/a", "prompt": "hi"}]}
TWO = {"steps": [*ONE["steps"], {"id": "b", "kind": "generate", "model": "up/a", "prompt": "x"}]}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def stored(*names: str) -> tuple[ChainService, Clock]:
    """Chains saved one second apart, in the order given."""
    clock = Clock()
    store = ChainStore(MemoryRecordBackend(), clock=clock)
    chains = ChainService(store, catalog(), starter=None)  # type: ignore[arg-type]
    for name in names:
        clock.now += 1
        await chains.put(name, parse_chain(ONE))
    return chains, clock


async def test_chains_are_listed_newest_first_with_their_latest_version() -> None:
    # Given three chains, the first changed last
    chains, clock = await stored("alpha", "beta", "gamma")
    clock.now += 1
    await chains.put("alpha", parse_chain(TWO))
    # When they are listed
    listed = await chains.list(None, 20)
    # Then the changed one leads, at its new version and step count
    assert [c.name for c in listed.data] == ["alpha", "gamma", "beta"]
    assert (listed.data[0].version, listed.data[0].steps) == (2, 2)
    assert (listed.first_id, listed.last_id, listed.has_more) == ("alpha", "beta", False)
    assert json.loads(listed.model_dump_json())["object"] == "list"


async def test_pages_follow_after_and_limit_to_the_end() -> None:
    chains, _ = await stored("a1", "a2", "a3", "a4", "a5")
    first = await chains.list(None, 2)
    second = await chains.list(first.last_id, 2)
    third = await chains.list(second.last_id, 2)
    names = [c.name for page in (first, second, third) for c in page.data]
    assert names == ["a5", "a4", "a3", "a2", "a1"]
    assert (first.has_more, second.has_more, third.has_more) == (True, True, False)


async def test_no_chains_is_an_empty_list() -> None:
    listed = await (await stored())[0].list(None, 20)
    assert (listed.data, listed.first_id, listed.last_id, listed.has_more) == (
        [],
        None,
        None,
        False,
    )


async def test_after_an_unknown_name_is_a_404_naming_after() -> None:
    chains, _ = await stored("alpha")
    with pytest.raises(WorkflowNotFound) as raised:
        await chains.list("nope", 20)
    assert raised.value.param == "after" and "nope" in raised.value.message


async def test_a_listing_doc_without_created_at_reads_its_chain() -> None:
    # Given a listing doc written before it carried created_at
    chains, _ = await stored("old", "new")
    await chains.store.backend.put("chains", "new", json.dumps({"version": 1}), None)
    await chains.store.backend.put("chains", "old", json.dumps({"version": 1}), None)
    # Then the order still comes from the stored versions
    assert [c.name for c in (await chains.list(None, 20)).data] == ["new", "old"]
