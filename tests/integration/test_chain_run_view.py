"""What a user of ``/v1/chains/runs`` sees: a replay answers the run's real status, a failed
run says which step failed and why (its code beside it, never a class name), an inline run
says so, and every time is whole epoch seconds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestra.api.app import create_app
from orchestra.compose import build_services
from orchestra.config import Settings

ONE = {"steps": [{"id": "one", "kind": "generate", "model": "sim-small", "prompt": "hi"}]}
MISSING = {"steps": [{"id": "one", "kind": "generate", "model": "no-such-model", "prompt": "hi"}]}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    settings = Settings(simulator=True, simulator_latency_scale=0.02)
    with TestClient(create_app(build_services(settings, {}))) as client:
        yield client


def _follow(client: TestClient, url: str) -> dict[str, Any]:
    for _ in range(300):
        view = client.get(url).json()
        if view["status"] != "running":
            return view
        time.sleep(0.02)
    raise AssertionError("the chain run did not finish")


@pytest.mark.parametrize(("chain", "status"), [(ONE, "succeeded"), (MISSING, "failed")])
def test_a_replay_answers_the_runs_status_now(
    client: TestClient, chain: dict[str, Any], status: str
) -> None:
    # Given a run started with an Idempotency-Key, and finished
    key = {"Idempotency-Key": f"replay-{status}"}
    first = client.post("/v1/chains/runs", json={"chain": chain}, headers=key)
    assert first.status_code == 202 and first.json()["status"] == "running"
    assert _follow(client, first.json()["status_url"])["status"] == status
    # When the same request is sent again
    again = client.post("/v1/chains/runs", json={"chain": chain}, headers=key)
    # Then it is the same run, and says where it is now, as GET does
    assert again.status_code == 202
    assert again.json()["id"] == first.json()["id"] and again.json()["status"] == status


def test_a_failed_run_says_which_step_failed_and_why_in_plain_words(client: TestClient) -> None:
    started = client.post("/v1/chains/runs", json={"chain": MISSING})
    view = _follow(client, started.json()["status_url"])
    assert view["status"] == "failed"
    assert view["error"] == (
        "steps[0] (one): The model 'no-such-model' does not exist or is not served by this gateway"
    )
    assert view["error_code"] == "model_not_found"
    step = view["steps"][0]
    assert step["status"] == "failed" and step["error_code"] == "model_not_found"
    assert step["error"].startswith("The model 'no-such-model'")
    for text in (view["error"], step["error"]):
        assert "Workflow" not in text and "Error" not in text and "Traceback" not in text


def test_an_inline_run_says_it_is_inline_with_its_name_if_it_has_one(client: TestClient) -> None:
    anonymous = client.post("/v1/chains/runs", json={"chain": ONE}).json()
    named = client.post("/v1/chains/runs", json={"chain": {**ONE, "name": "greet"}}).json()
    assert (anonymous["chain"], anonymous["version"], anonymous["source"]) == (None, None, "inline")
    assert (named["chain"], named["version"], named["source"]) == ("greet", None, "inline")
    view = _follow(client, anonymous["status_url"])
    assert (view["chain"], view["version"], view["source"]) == (None, None, "inline")
    assert _follow(client, named["status_url"])["chain"] == "greet"


def test_every_time_is_whole_epoch_seconds(client: TestClient) -> None:
    client.put("/v1/chains/timed", json=ONE)
    started = client.post("/v1/chains/timed/runs", json={}).json()
    assert started["source"] == "stored" and isinstance(started["created_at"], int)
    view = _follow(client, started["status_url"])
    assert isinstance(view["created_at"], int) and abs(view["created_at"] - time.time()) < 60
    step = view["steps"][0]
    assert isinstance(step["started_at"], int) and isinstance(step["finished_at"], int)
    assert isinstance(client.get("/v1/chains/timed").json()["created_at"], int)
