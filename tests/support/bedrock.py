"""Bedrock adapter tests' shared pieces: a provider on a replay, requests, tool calls, AWS
event-stream frames built by hand, and a SigV4 check of what was really sent."""

from __future__ import annotations

import binascii
import json
import struct
from typing import Any

import httpx

from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.bedrock import BedrockProvider
from orchestra.schemas.chat import ChatRequest

from support.replay import Replay, collect

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
QUOTED = b"us.anthropic.claude-sonnet-4-5-20250929-v1%3A0"
EVENTSTREAM = {"content-type": "application/vnd.amazon.eventstream"}
JSON = {"content-type": "application/json"}
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "bedrock/secret/access/key/EXAMPLEKEY0123"
BIN = "bedrock/converse_stream.eventstream.bin"
CORAL = ":http://internal.amazon.com/coral/com.amazon.bedrock/"


def bedrock_provider(replay: Replay, **config: object) -> BedrockProvider:
    settings: dict[str, Any] = {"region": "us-east-1", **config}
    return BedrockProvider(
        ProviderConfig(name="bedrock", type="bedrock", **settings), replay.clients()
    )


def chat_request(**extra: object) -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": "bedrock/x", "messages": [{"role": "user", "content": "hi"}], **extra}
    )


def tool_call(tool_id: str, name: str, arguments: str) -> dict:
    return {"id": tool_id, "type": "function", "function": {"name": name, "arguments": arguments}}


WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream frame (string headers), CRCs included."""
    encoded = b"".join(
        bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v)) + v.encode()
        for k, v in headers.items()
    )
    prelude = struct.pack(">II", 16 + len(encoded) + len(payload), len(encoded))
    message = prelude + struct.pack(">I", binascii.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", binascii.crc32(message))


def event_frame(kind: str, payload: dict) -> bytes:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, json.dumps({**payload, "p": "abcdefg"}).encode())


def exception_frame(kind: str, message: str) -> bytes:
    headers = {":exception-type": kind, ":content-type": "application/json"}
    return frame(
        {**headers, ":message-type": "exception"}, json.dumps({"message": message}).encode()
    )


def frame_ends(raw: bytes) -> list[int]:
    """Byte offsets where each recorded frame ends (from each prelude's total length)."""
    ends, at = [], 0
    while at < len(raw):
        at += struct.unpack(">I", raw[at : at + 4])[0]
        ends.append(at)
    return ends


async def stream_chunks(raw: bytes, piece: int | None = None) -> list:
    replay = Replay(body=raw, headers=EVENTSTREAM, piece=piece)
    return await collect(bedrock_provider(replay).stream(chat_request(), MODEL, CallOptions()))


async def once(items: list[bytes]):
    for item in items:
        yield item


def assert_signature_covers_what_was_sent(sent: httpx.Request, token: str | None = None) -> None:
    """Re-derive the SigV4 signature from the bytes, path and headers httpx really sent."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    auth = sent.headers["authorization"]
    signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    headers = {name: sent.headers[name] for name in signed if name != "host"}
    again = AWSRequest(method="POST", url=str(sent.url), data=sent.content, headers=headers)
    again.context["timestamp"] = sent.headers["x-amz-date"]
    signer = SigV4Auth(Credentials(KEY_ID, SECRET, token), "bedrock", "us-east-1")
    canonical = signer.canonical_request(again)
    assert canonical.splitlines()[1] == sent.url.raw_path.decode().replace("%", "%25")
    assert auth.endswith(
        "Signature=" + signer.signature(signer.string_to_sign(again, canonical), again)
    )
