"""Uploaded files: the record kept for each, and a batch input file's line-by-line check.

A batch input file is checked whole at upload (as OpenAI does), so a batch never starts on
a file it cannot read: every line a JSON object with a ``custom_id`` unique in the file,
``method`` POST, one ``url`` for the whole file, and a ``body`` the endpoint would accept
(``stream`` refused: a batch line has one answer). Each error names its line (1-based).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from orchestra.batch.protocols import CHAT, EMBEDDINGS, ENDPOINTS
from orchestra.errors import InvalidRequest
from orchestra.schemas.batch import FileObject
from orchestra.schemas.chat import ChatRequest
from orchestra.schemas.embeddings import EmbeddingRequest

#: the purposes an upload may give (``batch_output`` files are written by batches)
UPLOAD_PURPOSES = ("batch",)
_MODELS: dict[str, type[BaseModel]] = {CHAT: ChatRequest, EMBEDDINGS: EmbeddingRequest}


def sortable_hex() -> str:
    """24 hex digits whose first 10 are the microsecond clock (mod ~12 days): ids made in
    the same second list in creation order under ``<created_at>#<id>`` sort keys."""
    return f"{time.time_ns() // 1_000 % 16**10:010x}" + secrets.token_hex(7)


def new_file_id() -> str:
    return "file-" + sortable_hex()


class FileRecord(BaseModel):
    """A stored file: OpenAI's file object, plus who owns it and what a batch needs."""

    id: str
    bytes: int
    created_at: int
    filename: str
    purpose: str
    expires_at: int | None = None
    key_id: str | None = None
    #: a batch input file's line count and endpoint (None for other files)
    lines: int | None = None
    url: str | None = None
    blob: str = ""

    def public(self) -> FileObject:
        return FileObject(
            id=self.id,
            bytes=self.bytes,
            created_at=self.created_at,
            filename=self.filename,
            purpose=self.purpose,
            expires_at=self.expires_at,
        )


@dataclass(frozen=True, slots=True)
class Checked:
    lines: int
    url: str


def _bad(line: int, message: str) -> InvalidRequest:
    return InvalidRequest(f"line {line}: {message}", param="file", code="invalid_file")


def check_batch_file(data: bytes, *, max_bytes: int, max_lines: int) -> Checked:
    """The file's line count and endpoint, or a 400 naming the first bad line."""
    if len(data) > max_bytes:
        raise InvalidRequest(
            f"file is {len(data)} bytes; a batch file is at most {max_bytes}", param="file"
        )
    seen: set[str] = set()
    url: str | None = None
    count = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        count += 1
        if count > max_lines:
            raise _bad(number, f"a batch file has at most {max_lines} requests")
        custom_id, line_url = check_line(number, raw, url)
        if custom_id in seen:
            raise _bad(number, f"custom_id {custom_id!r} is used twice")
        seen.add(custom_id)
        url = line_url
    if url is None:
        raise InvalidRequest(
            "file has no requests: expected JSONL lines", param="file", code="invalid_file"
        )
    return Checked(lines=count, url=url)


def check_line(number: int, raw: bytes, url: str | None) -> tuple[str, str]:
    """One line's ``custom_id`` and ``url`` (``url``: the file's so far, if any)."""
    try:
        line = json.loads(raw)
    except ValueError:
        raise _bad(number, "not valid JSON") from None
    if not isinstance(line, dict):
        raise _bad(number, "expected a JSON object")
    custom_id = line.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise _bad(number, "custom_id must be a non-empty string")
    if line.get("method") != "POST":
        raise _bad(number, "method must be 'POST'")
    line_url = line.get("url")
    if line_url not in ENDPOINTS:
        raise _bad(number, f"url must be one of {', '.join(ENDPOINTS)}")
    if url is not None and line_url != url:
        raise _bad(number, f"url {line_url!r} differs from the file's {url!r}: one per file")
    _check_body(number, line.get("body"), str(line_url))
    return custom_id, str(line_url)


def _check_body(number: int, body: Any, url: str) -> None:
    if not isinstance(body, dict):
        raise _bad(number, "body must be a JSON object")
    if body.get("stream"):
        raise _bad(number, "body.stream is not supported in a batch")
    try:
        _MODELS[url].model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        raise _bad(number, f"body.{where}: {message}" if where else f"body: {message}") from None
