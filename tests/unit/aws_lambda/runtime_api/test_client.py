"""The Runtime API client on the wire: what Lambda's side receives, byte for byte."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
from collections.abc import Iterator

import pytest

from orchestra.aws_lambda.runtime_api.client import (
    HTTP_INTEGRATION,
    ClientGone,
    RuntimeApiError,
    RuntimeClient,
    error_body,
)


class OneShotServer:
    """Accepts one connection, records every byte, answers each request with ``reply``."""

    def __init__(self, reply: bytes = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.reply = reply
        self.received = b""
        self.conn: socket.socket | None = None
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]  # noqa: UP031
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.conn, _ = self.sock.accept()
        while True:
            try:
                data = self.conn.recv(65536)
            except OSError:  # closed by the test
                return
            if not data:
                return
            self.received += data
            body = self.received.split(b"\r\n\r\n", 1)[-1]
            last_chunk = body.startswith(b"0\r\n") or b"\r\n0\r\n" in body
            if last_chunk and self.received.endswith(b"\r\n\r\n"):
                self.conn.sendall(self.reply)

    def close_connection(self) -> None:
        assert self.conn is not None
        self.conn.close()


@contextlib.contextmanager
def server(**kw: bytes) -> Iterator[OneShotServer]:
    srv = OneShotServer(**kw)
    try:
        yield srv
    finally:
        srv.sock.close()


def _chunks(raw: bytes) -> tuple[list[bytes], bytes]:
    """Decode a chunked body: (chunks, trailer block)."""
    body = raw.split(b"\r\n\r\n", 1)[1]
    chunks = []
    while True:
        size_line, body = body.split(b"\r\n", 1)
        size = int(size_line, 16)
        if size == 0:
            return chunks, body
        chunks.append(body[:size])
        body = body[size + 2 :]


def test_a_streamed_response_is_chunked_in_streaming_mode() -> None:
    with server() as srv:
        client = RuntimeClient(srv.address)
        stream = client.stream("req-1")
        stream.write(b'{"statusCode":200}' + b"\x00" * 8)
        stream.write(b"data: one\n\n")
        stream.write(b"")  # nothing to send: no empty chunk (it would end the body)
        stream.write(b"data: two\n\n")
        stream.close()
        raw = srv.received
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    assert head.startswith("POST /2018-06-01/runtime/invocation/req-1/response HTTP/1.1")
    assert "Lambda-Runtime-Function-Response-Mode: streaming" in head
    assert "Transfer-Encoding: chunked" in head
    assert f"Content-Type: {HTTP_INTEGRATION}" in head
    chunks, trailers = _chunks(raw)
    assert chunks == [b'{"statusCode":200}' + b"\x00" * 8, b"data: one\n\n", b"data: two\n\n"]
    assert trailers == b"\r\n"
    assert stream.bytes_written == sum(map(len, chunks))


def test_a_stream_that_fails_ends_with_the_error_in_its_trailers() -> None:
    with server() as srv:
        stream = RuntimeClient(srv.address).stream("req-2")
        stream.write(b"partial")
        stream.close(error_body(ValueError("boom"), "Runtime.StreamError"))
        _, trailers = _chunks(srv.received)
    lines = dict(line.split(": ", 1) for line in trailers.decode().strip().splitlines())
    assert lines["Lambda-Runtime-Function-Error-Type"] == "Runtime.StreamError"
    error = json.loads(base64.b64decode(lines["Lambda-Runtime-Function-Error-Body"]))
    assert error == {"errorMessage": "boom", "errorType": "Runtime.StreamError", "stackTrace": []}


def test_a_reader_that_went_away_is_client_gone_on_the_next_write() -> None:
    with server() as srv:
        stream = RuntimeClient(srv.address).stream("req-3")
        stream.write(b"first")
        srv.thread.join(0.2)
        srv.close_connection()  # Lambda cut the response (the client disconnected)
        with pytest.raises(ClientGone):
            for _ in range(50):  # the close is seen at once, or at the latest on a failed send
                stream.write(b"more")
                srv.thread.join(0.01)
        with pytest.raises(ClientGone):
            stream.write(b"again")
        stream.close()  # no error: there is nobody to tell


def test_an_unexpected_status_is_a_runtime_api_error() -> None:
    with server(reply=b"HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n") as srv:
        stream = RuntimeClient(srv.address).stream("req-4")
        stream.write(b"x")
        with pytest.raises(RuntimeApiError):
            stream.close()
