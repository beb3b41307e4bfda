"""Against a deployed stack (opt-in): set ORCHESTRA_E2E_URL (the stack's Endpoint output,
ending in ``/<stage>/``) and ORCHESTRA_E2E_KEY (a key from ``orchestra keys create``).

    ORCHESTRA_E2E_URL=https://abc.execute-api.eu-west-1.amazonaws.com/dev/ \\
    ORCHESTRA_E2E_KEY=sk-orch-... .venv/bin/pytest tests/e2e -m e2e
"""

from __future__ import annotations

import os

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
