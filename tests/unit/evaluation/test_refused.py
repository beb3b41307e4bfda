"""A key the gateway refuses: the client remembers the first 401/403, and the run stops at
it without recording the refused pairs (the rerun with the right key asks them), while the
pairs that were answered meanwhile are kept."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from orchestra.errors import GatewayCallFailed
from orchestra.evaluation.client import GatewayClient
from orchestra.evaluation.records import Grade, Item, Manifest, Outcome
from orchestra.evaluation.results import ResultsFile
from orchestra.evaluation.runner import EvalRun


class Strat:
    def __init__(self, spec: str) -> None:
        self.spec, self.models = spec, ("m",)


ITEMS = [Item(id=f"q{i}", kind="exact", question="?", answer=str(i)) for i in range(6)]


class RefusedAfter:
    """Answers ``good`` pairs, then every call is refused (the gateway's key was revoked)."""

    def __init__(self, good: int) -> None:
        self.good, self.calls = good, 0
        self.refused: GatewayCallFailed | None = None

    async def run(self, strategy: Strat, item: Item) -> Outcome:
        self.calls += 1
        await asyncio.sleep(0)
        if self.calls > self.good:
            self.refused = GatewayCallFailed("Incorrect API key", status=401, code="bad_key")
            return Outcome(error="401 bad_key: Incorrect API key", retryable=False)
        return Outcome(answer=item.answer, calls=1)


class Exact:
    async def grade(self, item: Item, outcome: Outcome, graded_models: object) -> Grade:
        return Grade(correct=outcome.answer == item.answer, score=1.0)


async def test_the_run_stops_at_the_first_refusal_and_records_none(tmp_path: Path) -> None:
    # Given a results file and an executor whose key is refused after 3 answers
    results = ResultsFile(tmp_path)
    results.open(Manifest(dataset="toy", fingerprint="0" * 16, seed=0, created_at=0.0))
    executor = RefusedAfter(good=3)
    halt = lambda: None if executor.refused is None else "refused"  # noqa: E731
    # When the run goes on one worker
    run = EvalRun(executor, Exact(), results, [Strat("a")], ITEMS, concurrency=1, halt=halt)
    report = await run.run()
    # Then it stopped at the refusal: 3 answers kept, the refused pair not written
    assert report.stopped == "refused" and executor.calls == 4
    rows = [json.loads(x) for x in results.path.read_text().splitlines()]
    assert [r["item"] for r in rows] == ["q0", "q1", "q2"]
    assert all(r["outcome"]["error"] is None for r in rows)
    results.close()


@pytest.mark.parametrize("status", [401, 403])
async def test_the_client_remembers_the_first_refusal(status: int) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"error": {"message": f"no ({request.url.path})", "code": "refused"}}
        return httpx.Response(status, json=body)

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(handler), base_url="http://eval"
    ) as http:
        client = GatewayClient(http)
        assert client.refused is None
        for path in ("first", "second"):
            with pytest.raises(GatewayCallFailed):
                await client.chat({"model": path})
    assert client.refused is not None and client.refused.status == status
    assert client.refused.message == "no (/v1/chat/completions)"


async def test_other_failures_are_not_refusals() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": {"message": "no model", "code": "x"}})

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(handler), base_url="http://eval"
    ) as http:
        client = GatewayClient(http)
        with pytest.raises(GatewayCallFailed):
            await client.chat({})
    assert client.refused is None
