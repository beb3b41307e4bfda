"""``GET /v1/spend``: an admin sees every key's spend, a client key only its own."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from orchestra.api.app import admin_routers, create_app
from orchestra.compose.admin import build_admin
from orchestra.compose.core import Stores
from orchestra.config import Settings
from orchestra.governance.issuer import LocalKeyIssuer
from orchestra.governance.protocols import SpendRow
from orchestra.storage.memory import MemoryBreakerBackend, MemoryMetricsBackend
from orchestra.storage.spend import MemorySpendBackend

from support.policies import FakePolicyStore

ADMIN, CLIENT = "sk-admin-0123456789", "sk-client-0123456789"
CLIENT_ID = f"key-{hashlib.blake2b(CLIENT.encode(), digest_size=4).hexdigest()}"
TODAY = datetime.now(UTC).date().isoformat()


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    spend = MemorySpendBackend()
    for key, model, cost in [(CLIENT_ID, "gpt-4o", 7), ("ci", "gpt-4o", 11), ("ci", "m2", 13)]:
        await spend.add(SpendRow(TODAY, key, "data", model, cost, 1, 10, 5))
    stores = Stores(
        MemoryBreakerBackend(),
        MemoryMetricsBackend(),
        policies=FakePolicyStore(),
        spend=spend,
        issuer=LocalKeyIssuer(),
    )
    settings = Settings(api_keys=f"{ADMIN},{CLIENT}", admin_keys=ADMIN)
    services = build_admin(settings, {}, stores=stores)
    transport = httpx.ASGITransport(app=create_app(services, admin_routers()))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client
    await services.aclose()


def _as(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def test_an_admin_sees_every_key(api: httpx.AsyncClient) -> None:
    report = (await api.get("/v1/spend?group_by=key", headers=_as(ADMIN))).json()
    assert report["object"] == "list" and report["group_by"] == "key"
    assert [(g["group"], g["cost_nanos"]) for g in report["data"]] == [("ci", 24), (CLIENT_ID, 7)]
    assert report["total_cost_nanos"] == 31 and report["to"] == TODAY
    one = (await api.get("/v1/spend?group_by=model&key=ci", headers=_as(ADMIN))).json()
    assert [(g["group"], g["cost_nanos"]) for g in one["data"]] == [("m2", 13), ("gpt-4o", 11)]


async def test_a_client_key_sees_only_its_own_even_asking_for_another(
    api: httpx.AsyncClient,
) -> None:
    for query in ("", "?key=ci", "?group_by=team"):
        report = (await api.get(f"/v1/spend{query}", headers=_as(CLIENT))).json()
        assert report["total_cost_nanos"] == 7, query


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("?from=03/01/2026", "from"),
        ("?to=2026-13-01", "to"),
        ("?group_by=provider", "group_by"),
        ("?from=2025-01-01&to=2025-12-31", "from"),
        ("?team=data", "team"),
    ],
)
async def test_bad_parameters_are_400s_naming_them(
    api: httpx.AsyncClient, query: str, param: str
) -> None:
    refused = await api.get(f"/v1/spend{query}", headers=_as(ADMIN))
    assert refused.status_code == 400 and refused.json()["error"]["param"] == param


async def test_no_key_is_a_401(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/spend")).status_code == 401


async def test_the_report_shows_answers_from_cache() -> None:
    spend = MemorySpendBackend()
    await spend.add(SpendRow(TODAY, "ci", "data", "gpt-4o", 0, 1, 0, 0, 0, 1, 1_500_000))
    stores = Stores(
        MemoryBreakerBackend(),
        MemoryMetricsBackend(),
        policies=FakePolicyStore(),
        spend=spend,
        issuer=LocalKeyIssuer(),
    )
    services = build_admin(Settings(api_keys=ADMIN, admin_keys=ADMIN), {}, stores=stores)
    transport = httpx.ASGITransport(app=create_app(services, admin_routers()))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        report = (await client.get("/v1/spend", headers=_as(ADMIN))).json()
    await services.aclose()
    (group,) = report["data"]
    assert (group["cache_hits"], group["saved_usd"], group["cost_usd"]) == (1, 0.0015, 0.0)
    assert (report["total_cache_hits"], report["total_saved_usd"]) == (1, 0.0015)
