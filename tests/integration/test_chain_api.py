"""``/v1/chains*`` on ``orchestra serve`` (local runner, simulator): define, run, follow."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestra.api.app import create_app
from orchestra.compose import build_services
from orchestra.config import Settings

BRIEF_YAML = """\
inputs:
  topic: {type: string}
steps:
  - id: outline
    kind: generate
    model: sim-small
    prompt: "Outline {{ inputs.topic }} in 3 bullets"
  - id: summary
    kind: generate
    model: sim-medium
    prompt: "Summarise: {{ steps.outline.output }}"
outputs:
  brief: "{{ steps.summary.output }}"
"""


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    settings = Settings(simulator=True, simulator_latency_scale=0.02, chain_max_fanout=8)
    with TestClient(create_app(build_services(settings, {}))) as client:
        yield client


def _follow(client: TestClient, url: str) -> dict[str, Any]:
    for _ in range(300):
        view = client.get(url).json()
        if view["status"] != "running":
            return view
        time.sleep(0.02)
    raise AssertionError("the chain run did not finish")


def test_put_versions_a_chain_and_the_same_document_keeps_its_version(client: TestClient) -> None:
    yaml = {"content-type": "application/yaml"}
    first = client.put("/v1/chains/brief-a", content=BRIEF_YAML, headers=yaml)
    assert first.status_code == 200, first.text
    assert first.json() | {"created_at": 0} == {
        "object": "chain", "name": "brief-a", "version": 1, "created_at": 0, "steps": 2,
    }  # fmt: skip
    again = client.put("/v1/chains/brief-a", content=BRIEF_YAML, headers=yaml)
    assert again.json()["version"] == 1
    changed = client.put(
        "/v1/chains/brief-a", content=BRIEF_YAML + "description: v2\n", headers=yaml
    )
    assert changed.json()["version"] == 2
    assert client.get("/v1/chains/brief-a").json()["chain"]["description"] == "v2"
    assert "description" not in client.get("/v1/chains/brief-a?version=1").json()["chain"]


def test_a_stored_chain_runs_in_the_background_and_shows_every_step(client: TestClient) -> None:
    client.put("/v1/chains/brief-b", content=BRIEF_YAML, headers={"content-type": "text/yaml"})
    started = client.post("/v1/chains/brief-b/runs", json={"inputs": {"topic": "tides"}})
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["id"].startswith("chrun_") and body["status"] == "running"
    assert started.headers["location"] == body["status_url"]
    view = _follow(client, body["status_url"])
    assert view["status"] == "succeeded", view.get("error")
    assert view["chain"] == "brief-b" and view["version"] == 1
    assert [s["id"] for s in view["steps"]] == ["outline", "summary"]
    first = view["steps"][0]
    assert (
        first["input"] == "Outline tides in 3 bullets" and first["model"] == "simulator/sim-small"
    )
    assert first["latency_ms"] > 0 and first["cost_usd"] > 0 and first["usage"]["total_tokens"] > 0
    assert view["outputs"]["brief"] == view["steps"][1]["output"]
    assert view["cost_usd"] > 0 and view["execution_arn"] is None  # local: no execution
    assert view["source"] == "stored" and view["error"] is None


def test_an_idempotency_key_gives_the_same_run_and_409_for_another_request(
    client: TestClient,
) -> None:
    chain = {"steps": [{"id": "a", "kind": "generate", "model": "sim-small", "prompt": "hi"}]}
    key = {"Idempotency-Key": "chain-req-1"}
    first = client.post("/v1/chains/runs", json={"chain": chain}, headers=key)
    again = client.post("/v1/chains/runs", json={"chain": chain}, headers=key)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    other = client.post("/v1/chains/runs", json={"chain": chain, "inputs": {}}, headers=key)
    assert other.status_code == 202  # the same request (inputs default to {})
    chain["steps"][0]["prompt"] = "other"
    conflict = client.post("/v1/chains/runs", json={"chain": chain}, headers=key)
    assert conflict.status_code == 409 and conflict.json()["error"]["param"] == "Idempotency-Key"
    assert _follow(client, first.json()["status_url"])["status"] == "succeeded"


@pytest.mark.parametrize(
    ("chain", "param", "says"),
    [
        ({"steps": [{"id": "a", "kind": "generate", "prompt": "{{ steps.zz.output }}"}]},
         "steps[0].prompt", "steps.zz"),
        ({"steps": [{"id": "a", "kind": "sing", "prompt": "x"}]}, "steps[0]", "kind"),
        ({"steps": [{"id": "a", "kind": "parallel",
                     "branches": [{"id": f"b{i}", "kind": "generate", "prompt": "x"} for i in range(9)]}]},
         "limits", "9 wide, above this gateway's max_fanout of 8 (the widest step: steps[0])"),
    ],
)  # fmt: skip
def test_bad_chains_are_refused_before_start_naming_the_path(
    client: TestClient, chain: dict[str, Any], param: str, says: str
) -> None:
    response = client.post("/v1/chains/runs", json={"chain": chain})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"].startswith(param) and says in error["message"]


def test_unknown_chains_runs_and_bad_ids(client: TestClient) -> None:
    assert client.get("/v1/chains/nope").status_code == 404
    assert client.post("/v1/chains/nope/runs", json={}).status_code == 404
    assert client.get("/v1/chains/runs/chrun_" + "0" * 26).status_code == 404
    bad = client.get("/v1/chains/runs/dbt_1")
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "run_id"
    html = client.put("/v1/chains/x", content="<x/>", headers={"content-type": "text/html"})
    assert html.status_code == 400 and html.json()["error"]["param"] == "Content-Type"


def test_get_chains_lists_the_stored_chains_in_openais_list_shape(client: TestClient) -> None:
    # Given two stored chains
    yaml = {"content-type": "application/yaml"}
    for name in ("listed-a", "listed-b"):
        assert client.put(f"/v1/chains/{name}", content=BRIEF_YAML, headers=yaml).status_code == 200
    # When every chain is listed, a page at a time
    seen: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        query = {"limit": 1} | ({"after": after} if after else {})
        page = client.get("/v1/chains", params=query)
        assert page.status_code == 200, page.text
        body = page.json()
        assert set(body) == {"object", "data", "first_id", "last_id", "has_more"}
        assert body["object"] == "list" and body["first_id"] == body["last_id"]
        seen += body["data"]
        if not body["has_more"]:
            break
        after = body["last_id"]
    # Then each appears once, as its latest version, newest first
    mine = {c["name"]: c for c in seen if c["name"].startswith("listed-")}
    assert mine["listed-b"] | {"created_at": 0} == {
        "object": "chain", "name": "listed-b", "version": 1, "created_at": 0, "steps": 2,
    }  # fmt: skip
    assert len(seen) == len({c["name"] for c in seen})
    assert [c["created_at"] for c in seen] == sorted((c["created_at"] for c in seen), reverse=True)


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"order": "asc"}, "order"),
    ],
)
def test_get_chains_refuses_a_bad_query_naming_it(
    client: TestClient, query: dict[str, Any], param: str
) -> None:
    answer = client.get("/v1/chains", params=query)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == param


def test_get_chains_after_an_unknown_name_is_a_404_naming_after(client: TestClient) -> None:
    answer = client.get("/v1/chains", params={"after": "never-stored"})
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["param"] == "after"
