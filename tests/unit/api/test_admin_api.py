"""The admin API (``/v1/admin/keys``, ``/v1/admin/teams``): only an admin may use it, and it
makes, changes and revokes keys with their policies."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from orchestra.api.app import admin_routers, create_app
from orchestra.compose.admin import build_admin
from orchestra.compose.core import Stores
from orchestra.config import Settings

from support.policies import admin_stores

ADMIN, CLIENT = "sk-admin-0123456789", "sk-client-0123456789"
CLIENT_ID = f"key-{hashlib.blake2b(CLIENT.encode(), digest_size=4).hexdigest()}"


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@pytest.fixture
def stores() -> Stores:
    return admin_stores()


@pytest.fixture
async def api(stores: Stores) -> AsyncIterator[httpx.AsyncClient]:
    # the admin key is also a client key: the key check passes it, the admin list elevates it
    settings = Settings(api_keys=f"{ADMIN},{CLIENT}", admin_keys=ADMIN)
    services = build_admin(settings, {}, stores=stores)
    app = create_app(services, admin_routers())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client
    await services.aclose()


ADMIN_ROUTES = [
    ("POST", "/v1/admin/keys", {"key_id": "x"}),
    ("GET", "/v1/admin/keys", None),
    ("GET", "/v1/admin/keys/x", None),
    ("PATCH", "/v1/admin/keys/x", {"rpm": 1}),
    ("DELETE", "/v1/admin/keys/x", None),
    ("PUT", "/v1/admin/teams/t", {}),
    ("GET", "/v1/admin/teams", None),
    ("GET", "/v1/admin/teams/t", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
async def test_a_normal_key_gets_403_and_no_key_401(
    api: httpx.AsyncClient, method: str, path: str, body: Any
) -> None:
    refused = await api.request(method, path, json=body, headers=auth(CLIENT))
    assert refused.status_code == 403
    assert refused.json()["error"] == {
        "message": "This route needs an admin key",
        "type": "permission_error",
        "param": None,
        "code": "admin_required",
    }
    anonymous = await api.request(method, path, json=body)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "missing_api_key"


async def _team(api: httpx.AsyncClient, team: str, **limits: Any) -> httpx.Response:
    return await api.put(f"/v1/admin/teams/{team}", json=limits, headers=auth(ADMIN))


async def test_create_shows_the_key_once_and_stores_the_policy(
    api: httpx.AsyncClient, stores: Stores
) -> None:
    # Given a team
    assert (await _team(api, "data", budget_month_usd=100)).status_code == 201
    # When an admin creates a key in it
    body = {"key_id": "ci-bot", "team": "data", "budget_day_usd": 2.5, "rpm": 60}
    created = await api.post("/v1/admin/keys", json=body, headers=auth(ADMIN))
    # Then the 201 carries the key once, and the policy
    assert created.status_code == 201
    payload = created.json()
    assert payload["key"].startswith("sk-orch-")
    assert payload["policy"]["budget_day_usd"] == 2.5 and payload["policy"]["rpm"] == 60
    assert await stores.issuer.load() == {"ci-bot": payload["key"]}  # type: ignore[union-attr]
    shown = (await api.get("/v1/admin/keys/ci-bot", headers=auth(ADMIN))).json()
    assert shown["object"] == "key" and shown["team"] == "data" and "key" not in shown
    assert payload["key"] not in str(shown)
    listed = (await api.get("/v1/admin/keys?team=data", headers=auth(ADMIN))).json()
    assert listed["object"] == "list" and [k["key_id"] for k in listed["data"]] == ["ci-bot"]
    other_team = await api.get("/v1/admin/keys?team=ops", headers=auth(ADMIN))
    assert other_team.json()["data"] == []


@pytest.mark.parametrize(
    ("body", "status", "param", "code"),
    [
        ({"key_id": "k", "team": "nope"}, 400, "team", "team_not_found"),
        ({"key_id": "k", "budget_day_usd": -1}, 400, "budget_day_usd", "invalid_value"),
        ({"key_id": "bad id!"}, 400, "key_id", "invalid_value"),
        ({"key_id": "k", "rpmm": 5}, 400, "rpmm", "unknown_parameter"),
        ({"key_id": "k", "created_at": "2020"}, 400, "created_at", "unknown_parameter"),
        ({"team": "data"}, 400, "key_id", "invalid_request"),
    ],
)
async def test_a_bad_create_is_a_400_naming_the_parameter(
    api: httpx.AsyncClient, stores: Stores, body: dict[str, Any], status: int, param: str, code: str
) -> None:
    await _team(api, "data")
    refused = await api.post("/v1/admin/keys", json=body, headers=auth(ADMIN))
    assert refused.status_code == status
    error = refused.json()["error"]
    assert (error["param"], error["code"]) == (param, code)
    assert await stores.issuer.load() == {}  # type: ignore[union-attr]  # nothing issued


async def test_a_taken_key_id_is_a_409_and_keeps_the_first_key(
    api: httpx.AsyncClient, stores: Stores
) -> None:
    first = await api.post("/v1/admin/keys", json={"key_id": "k"}, headers=auth(ADMIN))
    again = await api.post("/v1/admin/keys", json={"key_id": "k"}, headers=auth(ADMIN))
    assert again.status_code == 409 and again.json()["error"]["code"] == "key_exists"
    assert await stores.issuer.load() == {"k": first.json()["key"]}  # type: ignore[union-attr]


async def test_patch_changes_what_it_names_and_null_clears(api: httpx.AsyncClient) -> None:
    await _team(api, "data")
    body = {"key_id": "k", "team": "data", "budget_day_usd": 5, "tpm": 1000}
    await api.post("/v1/admin/keys", json=body, headers=auth(ADMIN))
    patched = await api.patch(
        "/v1/admin/keys/k", json={"budget_day_usd": None, "rpm": 30}, headers=auth(ADMIN)
    )
    assert patched.status_code == 200
    policy = patched.json()
    assert (policy["budget_day_usd"], policy["rpm"], policy["tpm"]) == (None, 30, 1000)
    assert policy["team"] == "data" and policy["updated_at"] is not None
    moved = await api.patch("/v1/admin/keys/k", json={"team": "ghost"}, headers=auth(ADMIN))
    assert moved.status_code == 400 and moved.json()["error"]["param"] == "team"
    renamed = await api.patch("/v1/admin/keys/k", json={"key_id": "j"}, headers=auth(ADMIN))
    assert renamed.status_code == 400 and renamed.json()["error"]["param"] == "key_id"
    missing = await api.patch("/v1/admin/keys/nobody", json={"rpm": 1}, headers=auth(ADMIN))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "key_not_found"


async def test_delete_revokes_the_key_and_its_policy(
    api: httpx.AsyncClient, stores: Stores
) -> None:
    await api.post("/v1/admin/keys", json={"key_id": "k"}, headers=auth(ADMIN))
    deleted = await api.delete("/v1/admin/keys/k", headers=auth(ADMIN))
    assert deleted.json() == {"object": "key.deleted", "id": "k", "deleted": True}
    assert await stores.issuer.load() == {}  # type: ignore[union-attr]
    assert (await api.get("/v1/admin/keys/k", headers=auth(ADMIN))).status_code == 404
    assert (await api.delete("/v1/admin/keys/k", headers=auth(ADMIN))).status_code == 404


async def test_teams_are_created_then_replaced(api: httpx.AsyncClient) -> None:
    created = await _team(api, "data", budget_day_usd="10.25", rpm=100)
    assert created.status_code == 201 and created.json()["budget_day_usd"] == 10.25
    replaced = await _team(api, "data", budget_month_usd=300)
    assert replaced.status_code == 200
    team = (await api.get("/v1/admin/teams/data", headers=auth(ADMIN))).json()
    assert (team["budget_day_usd"], team["budget_month_usd"]) == (None, 300)
    assert team["created_at"] == created.json()["created_at"]
    listed = (await api.get("/v1/admin/teams", headers=auth(ADMIN))).json()
    assert [t["team_id"] for t in listed["data"]] == ["data"]
    assert (await api.get("/v1/admin/teams/nope", headers=auth(ADMIN))).status_code == 404
    bad = await _team(api, "data", rpm=-3)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "rpm"


async def test_a_key_whose_policy_says_admin_is_an_admin(api: httpx.AsyncClient) -> None:
    # Given the client key's own policy (its id) made admin, as deployed admins are
    body = {"key_id": CLIENT_ID, "admin": True}
    assert (await api.post("/v1/admin/keys", json=body, headers=auth(ADMIN))).status_code == 201
    # Then the client key may use the admin API
    assert (await api.get("/v1/admin/teams", headers=auth(CLIENT))).status_code == 200


async def test_a_405_allows_every_method_of_the_path(api: httpx.AsyncClient) -> None:
    # Given a path served by one route per method, Then a 405 names all of them
    refused = await api.request("OPTIONS", "/v1/admin/keys/k", headers=auth(ADMIN))
    assert refused.status_code == 405
    assert refused.headers["allow"] == "DELETE, GET, PATCH"
    assert (await api.put("/v1/admin/keys", headers=auth(ADMIN))).headers["allow"] == "GET, POST"


async def test_a_keys_cache_defaults_are_set_and_patched_field_by_field(
    api: httpx.AsyncClient,
) -> None:
    # Given a key created with cache defaults
    body = {"key_id": "k", "cache": {"ttl_s": 300, "namespace": "team", "semantic": True}}
    created = await api.post("/v1/admin/keys", json=body, headers=auth(ADMIN))
    assert created.status_code == 201, created.text
    assert created.json()["policy"]["cache"]["ttl_s"] == 300
    # When a PATCH names one cache field and clears another
    patched = await api.patch(
        "/v1/admin/keys/k",
        json={"cache": {"allow_stale": True, "semantic": None}},
        headers=auth(ADMIN),
    )
    # Then the fields it did not name are kept
    cache = patched.json()["cache"]
    assert (cache["ttl_s"], cache["namespace"]) == (300, "team")
    assert (cache["allow_stale"], cache["semantic"]) == (True, None)
    # and a bad value is a 400 naming it
    bad = await api.patch(
        "/v1/admin/keys/k", json={"cache": {"namespace": "world"}}, headers=auth(ADMIN)
    )
    assert bad.status_code == 400 and "namespace" in bad.json()["error"]["param"]
