"""``/v1/debates`` on ``orchestra serve`` (local runner, simulator): start, follow, errors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestra.api.app import create_app
from orchestra.compose import build_services
from orchestra.config import Settings


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    settings = Settings(simulator=True, simulator_latency_scale=0.02)
    with TestClient(create_app(build_services(settings, {}))) as client:
        yield client


def _follow(client: TestClient, url: str) -> dict[str, Any]:
    for _ in range(200):
        view = client.get(url).json()
        if view["status"] != "RUNNING":
            return view
        time.sleep(0.02)
    raise AssertionError("the debate did not finish")


def test_a_local_debate_runs_in_the_background_and_converges(client: TestClient) -> None:
    started = client.post(
        "/v1/debates", json={"question": "What is the capital of Australia?", "participants": 3}
    )
    assert started.status_code == 202
    body = started.json()
    assert body["status"] == "RUNNING" and started.headers["location"] == body["status_url"]
    view = _follow(client, body["status_url"])
    assert view["status"] == "SUCCEEDED" and view["converged"] is True
    assert view["rounds"][-1]["agreement"] == 1.0 and "Canberra" in view["final_answer"]
    assert view["cost_usd"] > 0 and view["usage"]["total_tokens"] > 0
    assert "execution_arn" not in view  # local: no Step Functions


def test_named_participants_roles_and_a_judge(client: TestClient) -> None:
    body = {
        "messages": [{"role": "user", "content": "What is 17 * 23?"}],
        "participants": ["sim-small", "sim-medium"],
        "roles": ["a careful accountant", "a quick mental calculator"],
        "judge": "sim-large",
        "max_rounds": 2,
    }
    started = client.post("/v1/debates", json=body).json()
    assert started["judge"] == "simulator/sim-large"
    view = _follow(client, started["status_url"])
    assert view["status"] == "SUCCEEDED" and len(view["rounds"]) <= 2


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"question": "q", "participants": ["sim-small", "nope/x"]}, 404, "participants[1]"),
        ({"question": "q", "participants": ["nope/x", "sim-small"]}, 404, "participants[0]"),
        ({"question": "q", "participants": ["sim-small", "sim-small"]}, 400, "participants[1]"),
        ({"question": "q", "participants": 7}, 400, None),
        ({"question": "q", "judge": "nope/x"}, 404, "judge"),
        ({"participants": 2}, 400, None),
    ],
)
def test_bad_debates_get_clear_errors(
    client: TestClient, body: dict[str, Any], status: int, param: Any
) -> None:
    response = client.post("/v1/debates", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    if param:
        assert error["param"] == param


def test_unknown_and_malformed_ids(client: TestClient) -> None:
    missing = client.get("/v1/debates/dbt_" + "0" * 26)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "debate_not_found"
    assert client.get("/v1/debates/../../etc").status_code == 404
    bad = client.get("/v1/debates/not-an-id")
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "debate_id"


def test_idempotency_key_header(client: TestClient) -> None:
    body = {"question": "What is 2 + 2?", "participants": 2}
    first = client.post("/v1/debates", json=body, headers={"Idempotency-Key": "k-1"}).json()
    again = client.post("/v1/debates", json=body, headers={"Idempotency-Key": "k-1"}).json()
    assert first["id"] == again["id"]
    clash = client.post(
        "/v1/debates", json={**body, "question": "3 + 3?"}, headers={"Idempotency-Key": "k-1"}
    )
    assert clash.status_code == 409
    bad = client.post("/v1/debates", json=body, headers={"Idempotency-Key": "has space"})
    assert bad.status_code == 400


def test_orchestra_debate_cli_prints_each_round(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestra.cli import main
    from orchestra.config import get_settings

    monkeypatch.setenv("ORCHESTRA_SIMULATOR", "true")
    monkeypatch.setenv("ORCHESTRA_SIMULATOR_LATENCY_SCALE", "0")
    get_settings.cache_clear()
    try:
        code = main(["debate", "What is the capital of Australia?", "--count", "3"])
        bad = main(["debate", "x", "--count", "1"])
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr()
    assert code == 0 and bad == 2
    assert "-- round 1: agreement 67%" in out.out and "(changed)" in out.out
    assert "== SUCCEEDED (converged: True)" in out.out and "Canberra" in out.out
    assert "'participants' must be between 2 and 6" in out.err


def test_participants_that_cannot_take_part_are_named_with_the_reason(client: TestClient) -> None:
    body = {"question": "6 x 7?", "participants": ["simulator/sim-large", "openai/gpt-4o"]}
    response = client.post("/v1/debates", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "participants"
    assert error["message"] == (
        "Some participants cannot take part (openai/gpt-4o: provider_not_configured)"
    )
