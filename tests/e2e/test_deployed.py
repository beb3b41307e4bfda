"""Against a deployed stack (opt-in): set ORCHESTRA_E2E_URL (the stack's Endpoint output,
ending in ``/<stage>/``) and ORCHESTRA_E2E_KEY (a key from ``orchestra keys create``).

    ORCHESTRA_E2E_URL=https://abc.execute-api.eu-west-1.amazonaws.com/dev/ \\
    ORCHESTRA_E2E_KEY=sk-orch-... .venv/bin/pytest tests/e2e -m e2e
"""

from __future__ import annotations

import itertools
import os
import time

import httpx
import pytest

pytestmark = pytest.mark.e2e
URL = os.environ.get("ORCHESTRA_E2E_URL", "")
KEY = os.environ.get("ORCHESTRA_E2E_KEY", "")
if not (URL and KEY):
    pytest.skip(
        "no deployed stack given (ORCHESTRA_E2E_URL, ORCHESTRA_E2E_KEY)", allow_module_level=True
    )


def _openai_error(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body["error"]) >= {"message", "type", "code"}, body
    return body["error"]  # type: ignore[no-any-return]


def test_health_is_public() -> None:
    assert httpx.get(URL + "health", timeout=30).status_code == 200


def test_missing_and_wrong_keys_get_openai_shaped_401() -> None:
    for headers in ({}, {"Authorization": "Bearer sk-wrong-key-000000000000000000"}):
        response = httpx.get(URL + "v1/models", headers=headers, timeout=30)
        assert response.status_code == 401
        assert _openai_error(response)["code"] == "invalid_api_key"


def test_unknown_route_is_an_openai_shaped_404() -> None:
    response = httpx.get(URL + "v1/nope", headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert response.status_code == 404  # API Gateway says 403; the gateway response fixes it
    _openai_error(response)


def test_the_openai_sdk_works_unchanged() -> None:
    from openai import OpenAI

    client = OpenAI(base_url=URL + "v1", api_key=KEY, max_retries=0, timeout=60)
    assert any(m.id.startswith("auto:") for m in client.models.list().data)
    answer = client.chat.completions.create(
        model="auto:budget", messages=[{"role": "user", "content": "Say OK."}], max_tokens=5
    )
    assert answer.choices[0].message.content
    assert answer.usage is not None and answer.usage.total_tokens > 0


def _gaps_ms(times: list[float]) -> list[float]:
    return [(b - a) * 1000 for a, b in itertools.pairwise(times)]


def test_streaming_arrives_token_by_token_with_the_openai_sdk() -> None:
    """Time to first byte and inter-chunk gaps as a client sees them (printed: run with -s)."""
    from openai import OpenAI

    client = OpenAI(base_url=URL + "v1", api_key=KEY, max_retries=0, timeout=120)
    model = os.environ.get("ORCHESTRA_E2E_MODEL", "auto:speed")
    started = time.monotonic()
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Count from 1 to 120, one number per line."}],
        max_tokens=800,
        stream=True,
        stream_options={"include_usage": True},
    )
    arrivals: list[float] = []
    usage = None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic())
        usage = chunk.usage or usage
    gaps = sorted(_gaps_ms(arrivals))
    print(
        f"\nTTFB {(arrivals[0] - started) * 1000:.0f} ms, {len(arrivals)} chunks over "
        f"{(arrivals[-1] - arrivals[0]) * 1000:.0f} ms, inter-chunk gap p50 "
        f"{gaps[len(gaps) // 2]:.1f} ms p99 {gaps[int(len(gaps) * 0.99)]:.1f} ms"
    )
    assert len(arrivals) > 20 and usage is not None
    # token by token: the chunks did not arrive in one burst at the end
    assert arrivals[-1] - arrivals[0] > 0.3
    assert sum(1 for g in gaps if g > 5) > len(gaps) // 4


@pytest.mark.skipif(not os.environ.get("ORCHESTRA_E2E_LONG"), reason="set ORCHESTRA_E2E_LONG=1")
def test_an_answer_longer_than_29_seconds_streamed_and_whole() -> None:
    """Needs a slow model (ORCHESTRA_E2E_LONG_MODEL, e.g. a reasoning model): both the
    streamed and the whole answer must outlive API Gateway's old 29 s limit."""
    from openai import OpenAI

    client = OpenAI(base_url=URL + "v1", api_key=KEY, max_retries=0, timeout=400)
    model = os.environ.get("ORCHESTRA_E2E_LONG_MODEL", "auto:quality")
    prompt = "Write a detailed 3,000-word essay on the history of the printing press."
    for stream in (True, False):
        started = time.monotonic()
        if stream:
            chunks = list(
                client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": prompt}], stream=True
                )
            )
            last = chunks[-1] if chunks else None
            assert last is not None and (not last.choices or last.choices[0].finish_reason)
        else:
            answer = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": prompt}]
            )
            assert answer.choices[0].message.content
        took = time.monotonic() - started
        print(f"\n{'streamed' if stream else 'whole'}: {took:.1f} s")
        if took < 29:
            pytest.skip(f"{model} answered in {took:.0f} s: pick a slower model")
