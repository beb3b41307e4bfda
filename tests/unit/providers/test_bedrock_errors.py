"""Bedrock's errors (HTTP, AWS error types, stream exception frames, transport) as typed errors."""

from __future__ import annotations

import json

import httpx
import pytest

from orchestra.errors import (
    ConnectionFailed,
    ContextLengthExceeded,
    ModelUnavailable,
    Overloaded,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderTimeout,
    RateLimited,
    ServerError,
)
from orchestra.providers.base import CallOptions

from support.bedrock import (
    CORAL,
    JSON,
    KEY_ID,
    MODEL,
    SECRET,
    bedrock_provider,
    chat_request,
)
from support.replay import Replay, collect

pytestmark = pytest.mark.usefixtures("bedrock_credentials")


@pytest.mark.parametrize("header", [True, False])  # recorders strip x- headers
@pytest.mark.parametrize("streaming", [False, True])
async def test_recorded_invalid_model_is_model_unavailable(recorded, header, streaming):
    headers = {**JSON, "x-amzn-ErrorType": "ValidationException" + CORAL} if header else JSON
    body = recorded.bytes("bedrock/error_400_invalid_model.json")
    assert b"model identifier is invalid" in body
    provider = bedrock_provider(Replay(status=400, body=body, headers=headers))
    with pytest.raises(ModelUnavailable, match="model identifier is invalid") as caught:
        if streaming:
            await collect(
                provider.stream(chat_request(), "us.does-not-exist-model-v1:0", CallOptions())
            )
        else:
            await provider.complete(chat_request(), "us.does-not-exist-model-v1:0", CallOptions())
    assert caught.value.upstream_status == 404 and caught.value.fallback


ERROR_CASES = [
    (
        "ThrottlingException",
        429,
        "Too many requests, please wait before trying again.",
        RateLimited,
    ),
    ("ServiceUnavailableException", 503, "Bedrock is unable to process your request.", Overloaded),
    ("ModelNotReadyException", 429, "Model is not ready", Overloaded),
    ("ModelTimeoutException", 408, "Model has timed out", ProviderTimeout),
    ("InternalServerException", 500, "internal", ServerError),
    ("ModelErrorException", 424, "The model returned an error", ServerError),
    ("AccessDeniedException", 403, "You don't have access to the model", ProviderAuthError),
    ("UnrecognizedClientException", 403, "The security token is invalid.", ProviderAuthError),
    ("ExpiredTokenException", 403, "The security token has expired.", ProviderAuthError),
    ("ResourceNotFoundException", 404, "Model not found", ModelUnavailable),
    ("ValidationException", 400, "Input is too long for requested model.", ContextLengthExceeded),
    ("ValidationException", 400, "Too many input tokens. Max: 8192", ContextLengthExceeded),
    (
        "ValidationException",
        400,
        "The model returned the following errors: prompt is too long: 210000 tokens > 200000",
        ContextLengthExceeded,
    ),
    (
        "ValidationException",
        400,
        "This model's maximum context length is 8192 tokens.",
        ContextLengthExceeded,
    ),
    (
        "ValidationException",
        400,
        "Invocation of model ID x with on-demand throughput isn't supported.",
        ModelUnavailable,
    ),
    ("ValidationException", 400, "temperature: must be <= 1", ProviderBadRequest),
]


@pytest.mark.parametrize(("kind", "status", "message", "expected"), ERROR_CASES)
@pytest.mark.parametrize("streaming", [False, True])
async def test_error_types_from_the_header(kind, status, message, expected, streaming):
    replay = Replay(
        status=status,
        body=json.dumps({"message": message}).encode(),
        headers={**JSON, "x-amzn-ErrorType": kind + CORAL},
    )
    provider = bedrock_provider(replay)
    with pytest.raises(expected) as caught:
        if streaming:
            await collect(provider.stream(chat_request(), MODEL, CallOptions()))
        else:
            await provider.complete(chat_request(), MODEL, CallOptions())
    error = caught.value
    assert (error.provider, error.model) == ("bedrock", MODEL)
    assert SECRET not in str(error) and KEY_ID not in str(error)
    if expected is ProviderBadRequest:
        assert error.code == "ValidationException" and message in error.message


async def test_throttling_honours_retry_after():
    replay = Replay(
        status=429,
        body=b'{"message": "slow down"}',
        headers={**JSON, "x-amzn-ErrorType": "ThrottlingException" + CORAL, "retry-after": "3"},
    )
    with pytest.raises(RateLimited) as caught:
        await bedrock_provider(replay).complete(chat_request(), MODEL, CallOptions())
    assert caught.value.retry_after == 3.0


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (httpx.ReadTimeout("slow"), ProviderTimeout),
        (httpx.ConnectError("refused"), ConnectionFailed),
    ],
)
@pytest.mark.parametrize("streaming", [False, True])
async def test_transport_errors_are_typed(error, expected, streaming):
    provider = bedrock_provider(Replay(error=error))
    with pytest.raises(expected):
        if streaming:
            await collect(provider.stream(chat_request(), MODEL, CallOptions()))
        else:
            await provider.complete(chat_request(), MODEL, CallOptions())
