"""Repeats of an exact hit under Mangum (``functions/generate/handler.py``): served by the
fast path as under uvicorn, the same response as the normal hit's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestra.generate.service import Generate

from support.lambda_api import Context, body_of, close_apps, deployed, load_handler, sample_event
from support.upstream import FakeUpstream, Reply, running_in_thread


@pytest.fixture(autouse=True)
def _close_apps() -> Iterator[None]:
    yield
    close_apps()


@pytest.fixture
def upstream(recorded: Any) -> Iterator[FakeUpstream]:
    fake = FakeUpstream(default=Reply.json(recorded.bytes("openai/chat_completion_basic.json")))
    with running_in_thread(fake) as started:
        yield started


def _config(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "orchestra.yaml"
    model = "{id: gpt-4o-mini, context_window: 128000, input_price: 1.5e-7, "
    model += "output_price: 6.0e-7, quality: 1270}"
    path.write_text(
        "providers:\n  - name: upstream\n    type: openai\n"
        f"    base_url: {base_url}\n    api_key_env: UPSTREAM_KEY\n    models: [{model}]\n"
    )
    return path


def _event() -> dict[str, Any]:
    event = sample_event("generate", "http_v2_chat_completions.json")
    body = {**json.loads(event["body"]), "temperature": 0}
    event["body"] = json.dumps(body)
    event["headers"]["content-length"] = str(len(event["body"].encode()))
    return event


def test_a_repeat_under_mangum_is_served_fast_and_equals_the_normal_hit(
    tmp_path: Path, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = Generate.generate

    async def counted(self: Generate, request: Any) -> Any:
        calls.append(1)
        return await original(self, request)

    monkeypatch.setattr(Generate, "generate", counted)
    monkeypatch.setenv("ORCHESTRA_CACHE_TTL_S", "60")
    config = _config(tmp_path, upstream.base_url)
    with deployed(monkeypatch, config, {"UPSTREAM_KEY": "sk-upstream-0123456789"}):
        handler = load_handler("generate")
        answers = [handler.handler(_event(), Context()) for _ in range(4)]
    assert [a["statusCode"] for a in answers] == [200] * 4
    cache = [a["headers"]["x-orchestra-cache"] for a in answers]
    assert cache == ["miss", "hit", "hit", "hit"]
    assert len(calls) == 2 and len(upstream.requests) == 1
    assert body_of(answers[1]) == body_of(answers[2]) == body_of(answers[3])
    strip = {"x-orchestra-cache-age"}
    normal = {k: v for k, v in answers[1]["headers"].items() if k not in strip}
    assert {k: v for k, v in answers[3]["headers"].items() if k not in strip} == normal
