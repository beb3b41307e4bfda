"""The Lambda Runtime API over one keep-alive HTTP/1.1 connection (standard library only).

The calls are blocking on purpose: an execution environment handles one invocation at a
time, the Runtime API is on the same host, and ``next`` is a long poll during which the
process has nothing else to do. A streamed response is written chunk by chunk
(``Transfer-Encoding: chunked``) as the app produces it; before each write the connection is
checked for an early answer or a close from the other side, which means the reader went
away (the client disconnected, or the function's response was cut): :class:`ClientGone`.
"""

from __future__ import annotations

import base64
import http.client
import json
import select
from dataclasses import dataclass
from typing import Any

API_VERSION = "2018-06-01"
#: API Gateway's (and function URLs') streamed proxy response: JSON head, 8 NULs, body
HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response"
DELIMITER = b"\x00" * 8
ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY = "Lambda-Runtime-Function-Error-Body"


#: what a kept-alive connection closed by the other side looks like on the next request
STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class RuntimeApiError(Exception):
    """The Runtime API answered something other than success."""


class ClientGone(Exception):
    """The reader of a streamed response went away: stop producing it."""


@dataclass(frozen=True)
class Invocation:
    request_id: str
    body: bytes
    deadline_ms: int
    function_arn: str
    trace_id: str | None = None
    client_context: str | None = None
    cognito_identity: str | None = None


def error_body(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    """The Runtime API's error document; no stack trace (it could hold request data)."""
    return {
        "errorMessage": str(exc)[:1000] or type(exc).__name__,
        "errorType": error_type or type(exc).__name__,
        "stackTrace": [],
    }


class RuntimeClient:
    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.host, self.port = host or address, int(port or 80)
        self._connection: http.client.HTTPConnection | None = None

    def _conn(self) -> http.client.HTTPConnection:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self.host, self.port, timeout=None)
        return self._connection

    def _path(self, path: str) -> str:
        return f"/{API_VERSION}/runtime/{path}"

    def _call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[http.client.HTTPResponse, bytes]:
        """One request; a kept-alive connection the other side has closed meanwhile (it may,
        e.g. after cutting a streamed response) is replaced once, before anything was read."""
        reused = self._connection is not None
        try:
            return self._request(method, path, body, headers)
        except STALE:
            if not reused:
                raise
        return self._request(method, path, body, headers)

    def _request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str] | None
    ) -> tuple[http.client.HTTPResponse, bytes]:
        conn = self._conn()
        try:
            conn.request(method, self._path(path), body=body, headers=headers or {})
            response = conn.getresponse()
            return response, response.read()
        except (OSError, http.client.HTTPException):
            self.close()  # a fresh connection next time
            raise

    def next(self) -> Invocation:
        """Block until the next invocation."""
        response, body = self._call("GET", "invocation/next")
        if response.status != 200:
            raise RuntimeApiError(f"invocation/next answered {response.status}")
        h = response.headers
        return Invocation(
            request_id=h["Lambda-Runtime-Aws-Request-Id"],
            body=body,
            deadline_ms=int(h.get("Lambda-Runtime-Deadline-Ms") or 0),
            function_arn=h.get("Lambda-Runtime-Invoked-Function-Arn", ""),
            trace_id=h.get("Lambda-Runtime-Trace-Id"),
            client_context=h.get("Lambda-Runtime-Client-Context"),
            cognito_identity=h.get("Lambda-Runtime-Cognito-Identity"),
        )

    def respond(self, request_id: str, body: bytes) -> None:
        """A whole (buffered) response."""
        self._expect(202, "POST", f"invocation/{request_id}/response", body)

    def invocation_error(self, request_id: str, error: dict[str, Any]) -> None:
        self._post_error(f"invocation/{request_id}/error", error)

    def init_error(self, error: dict[str, Any]) -> None:
        self._post_error("init/error", error)

    def restore_next(self) -> None:
        """SnapStart: the snapshot is taken during this call; it returns after a restore."""
        self._expect(200, "GET", "restore/next")

    def restore_error(self, error: dict[str, Any]) -> None:
        self._post_error("restore/error", error)

    def stream(self, request_id: str, content_type: str = HTTP_INTEGRATION) -> ResponseStream:
        """Open a streamed response; write to it, then ``close`` it."""
        conn = self._conn()
        try:
            conn.putrequest("POST", self._path(f"invocation/{request_id}/response"))
            conn.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
            conn.putheader("Transfer-Encoding", "chunked")
            conn.putheader("Content-Type", content_type)
            conn.putheader("Trailer", f"{ERROR_TYPE}, {ERROR_BODY}")
            conn.endheaders()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        return ResponseStream(self, conn)

    def _post_error(self, path: str, error: dict[str, Any]) -> None:
        headers = {ERROR_TYPE: str(error.get("errorType", "Runtime.Unknown"))}
        body = json.dumps(error).encode()
        self._expect(202, "POST", path, body, headers)

    def _expect(
        self,
        status: int,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        response, _ = self._call(method, path, body, headers)
        if response.status != status:
            raise RuntimeApiError(f"{path} answered {response.status}")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class ResponseStream:
    """One streamed response: chunked writes, then the last chunk (with error trailers)."""

    def __init__(self, client: RuntimeClient, conn: http.client.HTTPConnection) -> None:
        self._client, self._conn = client, conn
        self.bytes_written = 0
        self.gone = False
        self.closed = False

    def write(self, data: bytes) -> None:
        if self.gone:
            raise ClientGone
        if not data:
            return
        try:
            self._check_peer()
            self._conn.send(b"%x\r\n%s\r\n" % (len(data), data))
        except (OSError, ClientGone) as exc:
            self.gone = True
            raise ClientGone from exc
        self.bytes_written += len(data)

    def _check_peer(self) -> None:
        """Anything to read before we have finished sending means an early answer or EOF."""
        sock = self._conn.sock
        if sock is None:
            raise ClientGone
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            raise ClientGone

    def close(self, error: dict[str, Any] | None = None) -> None:
        """Finish the response; ``error`` goes in the trailers (the stream failed)."""
        if self.closed:
            return
        self.closed = True
        if self.gone:
            self._client.close()
            return
        trailer = b""
        if error is not None:
            encoded = base64.b64encode(json.dumps(error).encode())
            kind = str(error.get("errorType", "Runtime.Unknown")).encode()
            trailer = b"%s: %s\r\n%s: %s\r\n" % (
                ERROR_TYPE.encode(),
                kind,
                ERROR_BODY.encode(),
                encoded,
            )
        try:
            self._conn.send(b"0\r\n" + trailer + b"\r\n")
            response = self._conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            self.gone = True
            self._client.close()
            return
        if response.status != 202:
            self._client.close()
            raise RuntimeApiError(f"streamed response answered {response.status}")
