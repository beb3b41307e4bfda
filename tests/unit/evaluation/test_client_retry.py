"""The client waits out a rate limit or an overloaded gateway (honouring Retry-After, each wait
capped), halts on a spent budget, and keeps polling a debate through a few failed polls.
A fake ``sleep`` records the waits: no test waits for real."""

from __future__ import annotations

import random
from collections.abc import Callable

import httpx
import pytest

from orchestra.errors import GatewayCallFailed
from orchestra.evaluation.client import GatewayClient
from orchestra.transport.http import parse_retry_after as retry_after

Handler = Callable[[httpx.Request], httpx.Response]
OK = {"choices": [{"message": {"content": "The answer is 1."}}]}


def limited(code: str = "rate_limit_exceeded", status: int = 429, **headers: str) -> httpx.Response:
    body = {"error": {"message": f"{code}: over the limit of key k1", "code": code}}
    return httpx.Response(status, json=body, headers=headers)


class Script:
    """Answers the scripted responses in order, then the last one again."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses, self.calls = list(responses), 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return self.responses[min(self.calls, len(self.responses)) - 1]


async def call(handler: Handler, **options: object) -> tuple[GatewayClient, list[float], object]:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    transport = httpx.MockTransport(handler)
    async with httpx.AsyncClient(transport=transport, base_url="http://eval") as http:
        client = GatewayClient(http, sleep=sleep, rng=random.Random(0), **options)  # type: ignore[arg-type]
        try:
            outcome: object = await client.chat({"model": "m"})
        except GatewayCallFailed as exc:
            outcome = exc
    return client, waits, outcome


async def test_a_429_with_retry_after_is_waited_out_then_answered() -> None:
    # Given a gateway that rate-limits twice, asking for 2 s, then answers
    script = Script(
        limited(**{"retry-after": "2"}),
        limited(**{"retry-after": "2"}),
        httpx.Response(200, json=OK),
    )
    # When the client calls it
    client, waits, outcome = await call(script)
    # Then it waited about 2 s (jittered up) twice and got the answer; nothing refused
    assert script.calls == 3 and len(waits) == 2
    assert all(2.0 <= w <= 2.6 for w in waits)
    assert not isinstance(outcome, GatewayCallFailed) and client.refused is None


@pytest.mark.parametrize("status", [429, 503])
async def test_a_limit_that_lasts_fails_retryable_after_three_retries(status: int) -> None:
    script = Script(limited(code="overloaded", status=status, **{"retry-after-ms": "500"}))
    client, waits, outcome = await call(script)
    assert script.calls == 4 and len(waits) == 3 and all(0.5 <= w <= 0.7 for w in waits)
    assert isinstance(outcome, GatewayCallFailed) and outcome.retryable
    assert client.refused is None  # recorded as a retryable failure: the rerun asks again


async def test_each_wait_is_capped_and_backoff_grows_without_retry_after() -> None:
    long = Script(limited(**{"retry-after": "3600"}))
    _, waits, _ = await call(long)
    assert waits == [30.0, 30.0, 30.0]
    bare = Script(limited())
    _, waits, _ = await call(bare)
    assert waits[0] < waits[1] < waits[2] <= 30.0


async def test_a_spent_budget_is_not_retried_and_halts() -> None:
    # Given a key whose day budget is spent
    script = Script(limited(code="budget_exceeded"))
    # When the client calls
    client, waits, outcome = await call(script)
    # Then one call, no wait, and the refusal kept for the run to halt on
    assert script.calls == 1 and waits == []
    assert isinstance(outcome, GatewayCallFailed) and client.refused is outcome
    assert client.over_budget


async def test_a_failed_connection_is_retried_a_timed_out_post_is_not() -> None:
    attempts: list[str] = []

    def refused_then_ok(request: httpx.Request) -> httpx.Response:
        attempts.append("x")
        if len(attempts) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json=OK)

    _, waits, outcome = await call(refused_then_ok)
    assert len(attempts) == 2 and len(waits) == 1 and not isinstance(outcome, Exception)

    slow_calls: list[str] = []

    def slow(request: httpx.Request) -> httpx.Response:
        slow_calls.append(request.method)
        raise httpx.ReadTimeout("slow", request=request)

    _, waits, outcome = await call(slow)
    assert slow_calls == ["POST"] and waits == []  # it may be running (and spending) already
    assert isinstance(outcome, GatewayCallFailed) and outcome.code == "timeout"


def debate_failing(polls: list[int], failing: int) -> Handler:
    """A debate whose first ``failing`` status GETs answer 502, then report it done."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            accepted = {"id": "d1", "status": "RUNNING", "status_url": "/v1/debates/d1"}
            return httpx.Response(202, json=accepted)
        polls.append(1)
        if len(polls) <= failing:
            return httpx.Response(502, json={"error": {"message": "bad gateway", "code": "x"}})
        return httpx.Response(200, json={"id": "d1", "status": "SUCCEEDED"})

    return handler


@pytest.mark.parametrize(("failing", "survives"), [(5, True), (6, False)])
async def test_a_debate_survives_up_to_five_failed_status_polls_in_a_row(
    failing: int, survives: bool
) -> None:
    # Given a debate whose status GETs fail ``failing`` times in a row, then report it done
    polls: list[int] = []

    async def sleep(seconds: float) -> None:
        return None

    transport = httpx.MockTransport(debate_failing(polls, failing))
    async with httpx.AsyncClient(transport=transport, base_url="http://eval") as http:
        client = GatewayClient(http, poll_s=0.001, sleep=sleep, retries=0)
        # When the client follows it
        if survives:  # Then five failures are survived, the sixth poll sees it done
            view = await client.debate({"models": ["a", "b"]})
            assert view.body["status"] == "SUCCEEDED" and len(polls) == 6
        else:  # a sixth failure in a row gives up
            with pytest.raises(GatewayCallFailed):
                await client.debate({"models": ["a", "b"]})
            assert len(polls) == 6


def test_retry_after_reads_milliseconds_seconds_and_dates() -> None:
    assert retry_after(httpx.Headers({"retry-after-ms": "250"})) == 0.25
    assert retry_after(httpx.Headers({"retry-after": "7"})) == 7.0
    assert retry_after(httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert retry_after(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after(httpx.Headers({})) is None
