"""Bedrock calls are SigV4-signed over exactly what httpx sends, with the ambient credentials."""

from __future__ import annotations

import json

import pytest

from orchestra.errors import (
    ProviderAuthError,
)
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.bedrock import BedrockProvider
from orchestra.providers.bedrock_convert import to_body

from support.bedrock import (
    JSON,
    KEY_ID,
    MODEL,
    QUOTED,
    SECRET,
    assert_signature_covers_what_was_sent,
    bedrock_provider,
    chat_request,
)
from support.replay import Replay

pytestmark = pytest.mark.usefixtures("bedrock_credentials")


async def test_complete_is_sigv4_signed_and_never_sends_the_secret(recorded):
    replay = Replay(body=recorded.bytes("bedrock/converse.json"), headers=JSON)
    response = await bedrock_provider(replay).complete(
        chat_request(max_tokens=20), MODEL, CallOptions()
    )
    assert response.text() == "The city of Paris" and response.model == MODEL
    sent = replay.requests[0]
    assert sent.method == "POST"
    assert sent.url.host == "bedrock-runtime.us-east-1.amazonaws.com"
    assert sent.url.raw_path == b"/model/" + QUOTED + b"/converse"
    assert sent.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={KEY_ID}/")
    assert "/us-east-1/bedrock/aws4_request" in sent.headers["authorization"]
    assert sent.headers["x-amz-date"] and "x-amz-security-token" not in sent.headers
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.content) == to_body(chat_request(max_tokens=20))
    assert SECRET not in str(sent.headers.raw) and SECRET.encode() not in sent.content
    assert SECRET not in str(sent.url)
    assert_signature_covers_what_was_sent(sent)


async def test_arn_model_ids_are_quoted_like_boto3_and_signed_as_sent(recorded):
    from botocore.utils import percent_encode  # what boto3 does to the {modelId} label

    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/" + MODEL
    replay = Replay(body=recorded.bytes("bedrock/converse.json"), headers=JSON)
    await bedrock_provider(replay).complete(chat_request(), arn, CallOptions())
    sent = replay.requests[0]
    assert sent.url.raw_path == f"/model/{percent_encode(arn)}/converse".encode()
    assert b"%2F" in sent.url.raw_path and b"%3A" in sent.url.raw_path
    assert_signature_covers_what_was_sent(sent)


async def test_session_token_is_sent_and_signed(recorded, monkeypatch):
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-123")
    replay = Replay(body=recorded.bytes("bedrock/converse.json"), headers=JSON)
    await bedrock_provider(replay).complete(chat_request(), MODEL, CallOptions())
    sent = replay.requests[0]
    assert sent.headers["x-amz-security-token"] == "session-token-123"
    assert "x-amz-security-token" in sent.headers["authorization"]
    assert_signature_covers_what_was_sent(sent, "session-token-123")


async def test_base_url_override_keeps_the_path_prefix_and_signs_the_port(recorded):
    replay = Replay(body=recorded.bytes("bedrock/converse.json"), headers=JSON)
    provider = bedrock_provider(replay, base_url="http://127.0.0.1:8999/bedrock/")
    await provider.complete(chat_request(), MODEL, CallOptions())
    sent = replay.requests[0]
    assert str(sent.url).startswith("http://127.0.0.1:8999/bedrock/model/")
    assert sent.headers["host"] == "127.0.0.1:8999"
    assert_signature_covers_what_was_sent(sent)


async def test_credentials_are_resolved_once_and_cached(recorded, monkeypatch):
    import botocore.session

    calls = []
    real = botocore.session.get_session

    def counting():
        calls.append(1)
        return real()

    monkeypatch.setattr(botocore.session, "get_session", counting)
    replay = Replay(body=recorded.bytes("bedrock/converse.json"), headers=JSON)
    provider = bedrock_provider(replay)
    assert calls == []  # nothing resolved before the first call
    for _ in range(3):
        await provider.complete(chat_request(), MODEL, CallOptions())
    assert len(calls) == 1 and len(replay.requests) == 3


async def test_missing_credentials_are_an_auth_error(monkeypatch):
    import botocore.session

    class NoCredentials:
        def get_credentials(self):
            return None

    monkeypatch.setattr(botocore.session, "get_session", NoCredentials)
    replay = Replay(body=b"{}", headers=JSON)
    with pytest.raises(ProviderAuthError):
        await bedrock_provider(replay).complete(chat_request(), MODEL, CallOptions())
    assert replay.requests == []


def test_a_region_or_base_url_is_required():
    with pytest.raises(ValueError, match="region"):
        BedrockProvider(ProviderConfig(name="bedrock", type="bedrock"), Replay().clients())
