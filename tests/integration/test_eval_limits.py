"""``orchestra eval`` under the gateway's limits, in-process (the client's one call, wrapped):
a rate limit is waited out and the run completes; a spent key budget halts the run with one
line and exit 3, recording none of the refused pairs; ``--temperature`` reaches every call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestra.cli import main
from orchestra.errors import GatewayCallFailed
from orchestra.evaluation import client as client_module
from orchestra.evaluation.client import Failed, GatewayClient

from support.evaluation import simulated_gateway

CHAT = "/v1/chat/completions"


@pytest.fixture
def simulated(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    yield from simulated_gateway(monkeypatch)


def wrap_calls(monkeypatch: pytest.MonkeyPatch, fail: Any) -> list[dict[str, Any]]:
    """Every chat call's body; ``fail(n)`` may answer the n-th chat call with a failure."""
    real = GatewayClient._once
    bodies: list[dict[str, Any]] = []

    async def once(self: GatewayClient, method: str, path: str, body: Any) -> Any:
        if path == CHAT:
            bodies.append(body)
            failure = fail(len(bodies))
            if failure is not None:
                if failure.error.code == client_module.BUDGET_EXCEEDED and self.refused is None:
                    self.refused = failure.error
                return failure
        return await real(self, method, path, body)

    monkeypatch.setattr(GatewayClient, "_once", once)
    return bodies


def evaluate(out: Path, *extra: str) -> int:
    args = ["eval", "--dataset", "gsm8k", "--limit", "4", "--strategy", "sim-large"]
    return main([*args, "--out", str(out), "--concurrency", "1", *extra])


def rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_a_rate_limit_is_waited_out_and_the_run_completes(
    tmp_path: Path, simulated: pytest.MonkeyPatch
) -> None:
    # Given a gateway that rate-limits every other chat call (asking for no wait)
    limited = GatewayCallFailed("rate_limit_exceeded", status=429, code="rate_limit_exceeded")
    bodies = wrap_calls(simulated, lambda n: Failed(limited, 0.0) if n % 2 else None)
    # When the run goes
    assert evaluate(tmp_path) == 0
    # Then every pair was answered after its wait, none recorded as failed
    assert len(bodies) == 8 and all(r["outcome"]["error"] is None for r in rows(tmp_path))


def test_a_spent_budget_halts_with_one_line_and_exit_3(
    tmp_path: Path, simulated: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a key whose budget runs out after two answers
    spent = GatewayCallFailed(
        "day budget of key k1 exceeded ($0.003); resets at 00:00 UTC",
        status=429,
        code="budget_exceeded",
    )
    bodies = wrap_calls(simulated, lambda n: Failed(spent) if n > 2 else None)
    # When the run goes
    assert evaluate(tmp_path) == 3
    # Then one call was refused (not retried), the answered pairs kept, the refused not recorded
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(bodies) == 3 and len(rows(tmp_path)) == 2
    assert len(errors) == 1 and "budget is spent" in errors[0] and "$0.003" in errors[0]


def test_temperature_is_sent_with_every_single_model_call(
    tmp_path: Path, simulated: pytest.MonkeyPatch
) -> None:
    bodies = wrap_calls(simulated, lambda n: None)
    assert evaluate(tmp_path, "--temperature", "0") == 0
    assert len(bodies) == 4 and all(b.get("temperature") == 0.0 for b in bodies)
    assert main(["eval", "--dataset", "gsm8k", "--strategy", "m", "--temperature", "-1"]) == 2
