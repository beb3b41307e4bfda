"""``orchestra keys | teams | spend`` through the admin API of a gateway on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from orchestra.api.app import admin_routers, create_app
from orchestra.cli import main
from orchestra.compose.admin import build_admin
from orchestra.compose.core import Stores
from orchestra.config import Settings
from orchestra.governance.issuer import LocalKeyIssuer
from orchestra.governance.protocols import SpendRow
from orchestra.storage.memory import MemoryBreakerBackend, MemoryMetricsBackend
from orchestra.storage.spend import MemorySpendBackend

from support.policies import FakePolicyStore
from support.server import serve_in_thread

ADMIN = "sk-admin-cli-0123456789"
TODAY = datetime.now(UTC).date().isoformat()


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stores]:
    stores = Stores(
        MemoryBreakerBackend(),
        MemoryMetricsBackend(),
        policies=FakePolicyStore(),
        spend=MemorySpendBackend(),
        issuer=LocalKeyIssuer(),
    )
    services = build_admin(Settings(api_keys=ADMIN, admin_keys=ADMIN), {}, stores=stores)
    with serve_in_thread(create_app(services, admin_routers())) as url:
        monkeypatch.setenv("ORCHESTRA_BASE_URL", url)
        monkeypatch.setenv("ORCHESTRA_ADMIN_KEY", ADMIN)
        yield stores


def test_keys_create_update_list_revoke(
    gateway: Stores, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a team
    assert main(["teams", "create", "data", "--budget-month", "300"]) == 0
    # When a key is created in it, Then its key is printed once with its limits
    assert (
        main(["keys", "create", "ci-bot", "--team", "data", "--budget-day", "5", "--rpm", "60"])
        == 0
    )
    out = capsys.readouterr().out
    (issued,) = [line.split(": ")[1] for line in out.splitlines() if line.startswith("key ci-bot")]
    assert issued.startswith("sk-orch-") and "(shown once" in out
    assert gateway.policies.keys["ci-bot"].rpm == 60  # type: ignore[union-attr]
    # When its day budget is cleared and tpm set
    assert main(["keys", "update", "ci-bot", "--budget-day", "none", "--tpm", "1000"]) == 0
    policy = gateway.policies.keys["ci-bot"]  # type: ignore[union-attr]
    assert (policy.budget_day_usd, policy.tpm, policy.rpm) == (None, 1000, 60)
    # Then list prints an aligned table, never a key
    capsys.readouterr()
    assert main(["keys", "list"]) == 0
    header, line = capsys.readouterr().out.splitlines()
    assert header.split() == [
        "KEY",
        "TEAM",
        "ADMIN",
        "DAY",
        "USD",
        "MONTH",
        "USD",
        "MAX",
        "USD",
        "RPM",
        "TPM",
    ]
    assert line.split() == ["ci-bot", "data", "no", "-", "-", "-", "60", "1,000"]
    assert header.index("TPM") + len("TPM") == len(line)  # numbers right-aligned
    assert issued not in line
    # When revoked, Then it is gone from the policies and the issuer
    assert main(["keys", "revoke", "ci-bot"]) == 0
    assert gateway.policies.keys == {}  # type: ignore[union-attr]


def test_keys_take_their_cache_defaults(
    gateway: Stores, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a key created with a TTL, the team namespace and semantic lookups
    args = ["keys", "create", "bot", "--cache-ttl", "300", "--cache-namespace", "team"]
    assert main([*args, "--cache-semantic", "--cache-threshold", "0.97"]) == 0
    cache = gateway.policies.keys["bot"].cache  # type: ignore[union-attr]
    assert (cache.ttl_s, cache.namespace, cache.semantic) == (300, "team", True)
    assert (cache.semantic_threshold, cache.sampled, cache.allow_stale) == (0.97, None, None)
    # When updated with other cache flags, one of them 'none'
    update = ["keys", "update", "bot", "--no-cache-semantic", "--cache-allow-stale"]
    assert main([*update, "--cache-sampled", "--cache-namespace", "none"]) == 0
    # Then what the update named changed, the rest was kept
    cache = gateway.policies.keys["bot"].cache  # type: ignore[union-attr]
    assert (cache.ttl_s, cache.namespace, cache.semantic) == (300, None, False)
    assert (cache.sampled, cache.allow_stale, cache.semantic_threshold) == (True, True, 0.97)
    capsys.readouterr()
    # and a TTL or threshold out of range is refused before any call
    with pytest.raises(SystemExit):
        main(["keys", "update", "bot", "--cache-ttl", "99999999"])
    with pytest.raises(SystemExit):
        main(["keys", "update", "bot", "--cache-threshold", "0.2"])
    assert "0.5 to 1" in capsys.readouterr().err


def test_errors_are_one_line_with_the_gateways_message(
    gateway: Stores, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "create", "k", "--team", "ghost"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: No team named 'ghost'") and err.count("\n") == 1
    assert main(["keys", "show", "nobody"]) == 2
    assert main(["keys", "update", "k"]) == 2  # nothing to update
    assert ADMIN not in capsys.readouterr().err


def test_a_wrong_admin_key_is_refused(
    gateway: Stores, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORCHESTRA_ADMIN_KEY", "sk-wrong-0123456789")
    assert main(["teams", "list"]) == 2
    assert "Incorrect API key" in capsys.readouterr().err
    monkeypatch.delenv("ORCHESTRA_ADMIN_KEY")
    assert main(["teams", "list"]) == 2
    assert "--admin-key" in capsys.readouterr().err


def test_teams_update_keeps_what_it_does_not_name(
    gateway: Stores, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["teams", "create", "data", "--budget-day", "10", "--rpm", "100"]) == 0
    assert main(["teams", "update", "data", "--rpm", "none", "--tpm", "5000"]) == 0
    team = gateway.policies.teams["data"]  # type: ignore[union-attr]
    assert (team.budget_day_usd, team.rpm, team.tpm) == (10, None, 5000)
    capsys.readouterr()
    assert main(["teams", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["team_id"] == "data"


def test_spend_prints_a_table_and_json(gateway: Stores, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    spend = gateway.spend
    assert spend is not None
    for key, cost in (("ci", 1_250_000_000), ("bot", 20_000_000)):
        asyncio.run(spend.add(SpendRow(TODAY, key, "data", "gpt-4o", cost, 3, 1000, 200)))
    assert main(["spend", "--group-by", "key"]) == 0
    heading, header, *rows, total = capsys.readouterr().out.splitlines()
    assert heading.startswith("spend by key, ") and header.split()[0] == "KEY"
    assert [r.split()[:3] for r in rows] == [["ci", "1.25", "3"], ["bot", "0.02", "3"]]
    assert total.split()[:3] == ["TOTAL", "1.27", "6"]
    assert main(["spend", "--group-by", "team", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["data"][0]["cost_nanos"] == 1_270_000_000
    asyncio.run(spend.add(SpendRow(TODAY, "ci", "data", "gpt-4o", 0, 1, 0, 0, 0, 2, 500_000_000)))
    assert main(["spend", "--group-by", "key"]) == 0
    _, header, first, _, total = capsys.readouterr().out.splitlines()
    assert header.split()[-3:] == ["HITS", "SAVED", "USD"]
    assert first.split()[0] == "ci" and first.split()[-2:] == ["2", "0.5"]
    assert total.split()[-2:] == ["2", "0.5"]
    assert main(["spend", "--from", "2020-01-01"]) == 2  # more than 92 days
    assert "92 days" in capsys.readouterr().err
