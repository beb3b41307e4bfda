"""A batch input file is checked line by line at upload; each error names its line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestra.batch.files import check_batch_file
from orchestra.errors import InvalidRequest


def line(custom_id: str = "a", url: str = "/v1/chat/completions", **over: Any) -> str:
    body = {"model": "sim-fast", "messages": [{"role": "user", "content": "hi"}]}
    if url == "/v1/embeddings":
        body = {"model": "sim-embed", "input": "hi"}
    doc = {"custom_id": custom_id, "method": "POST", "url": url, "body": body, **over}
    return json.dumps(doc)


def check(*lines: str, max_lines: int = 100, max_bytes: int = 10_000) -> Any:
    data = ("\n".join(lines) + "\n").encode()
    return check_batch_file(data, max_bytes=max_bytes, max_lines=max_lines)


def test_a_valid_file_gives_its_line_count_and_endpoint():
    checked = check(line("a"), "", line("b"))
    assert (checked.lines, checked.url) == (2, "/v1/chat/completions")
    assert check(line("e", url="/v1/embeddings")).url == "/v1/embeddings"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([line("a"), "{not json"], "line 2: not valid JSON"),
        ([line("a"), "[1, 2]"], "line 2: expected a JSON object"),
        ([line("a"), line("b"), line("a")], "line 3: custom_id 'a' is used twice"),
        ([line("")], "line 1: custom_id must be a non-empty string"),
        ([line("a", method="GET")], "line 1: method must be 'POST'"),
        ([line("a", url="/v1/responses")], "line 1: url must be one of"),
        (
            [line("a"), line("b", url="/v1/embeddings")],
            "line 2: url '/v1/embeddings' differs from the file's '/v1/chat/completions'",
        ),
        ([line("a", body=[])], "line 1: body must be a JSON object"),
        (
            [line("a", body={"model": "m", "messages": [], "stream": True})],
            "line 1: body.stream is not supported",
        ),
        ([line("a", body={"model": "m", "messages": []})], "line 1: body.messages:"),
        ([line("a", body={"messages": [{"role": "user", "content": "x"}]})], "body.model:"),
    ],
)
def test_each_error_names_its_line(lines, message):
    with pytest.raises(InvalidRequest) as raised:
        check(*lines)
    assert raised.value.message.startswith(message) or message in raised.value.message
    assert raised.value.param == "file" and raised.value.status == 400


def test_limits_on_lines_and_bytes():
    with pytest.raises(InvalidRequest, match="line 3: a batch file has at most 2 requests"):
        check(line("a"), line("b"), line("c"), max_lines=2)
    with pytest.raises(InvalidRequest, match="a batch file is at most 10"):
        check(line("a"), max_bytes=10)
    with pytest.raises(InvalidRequest, match="file has no requests"):
        check("", "  ")
