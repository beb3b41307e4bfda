"""The admin API of a running gateway, as the CLI calls it (``--base-url``, ``--admin-key``).

A thin synchronous httpx client: one method per route, JSON in and out. An error answer
(OpenAI's shape) becomes an :class:`~orchestra.errors.OrchestraError` carrying the
gateway's status, code and message, so the CLI prints what the gateway said. The admin key
goes only into the ``Authorization`` header: never into a message.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from orchestra.errors import OrchestraError

TIMEOUT_S = 30.0


class AdminClient:
    def __init__(
        self, base_url: str, admin_key: str, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"authorization": f"Bearer {admin_key}"},
            timeout=TIMEOUT_S,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:  # the URL, never the headers
            raise OrchestraError(
                f"cannot reach {self._client.base_url}: {type(exc).__name__}",
                code="connection_failed",
                status=503,
            ) from None
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {}
        if response.is_error:
            found = body.get("error") if isinstance(body, dict) else None
            error: dict[str, Any] = found if isinstance(found, dict) else {}
            raise OrchestraError(
                str(error.get("message") or f"HTTP {response.status_code}"),
                code=str(error.get("code") or "http_error"),
                status=response.status_code,
                param=error.get("param"),
            )
        return body

    def create_key(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/v1/admin/keys", json=body)

    def list_keys(self, team: str | None = None) -> list[dict[str, Any]]:
        params = {"team": team} if team else None
        found: list[dict[str, Any]] = self._call("GET", "/v1/admin/keys", params=params)["data"]
        return found

    def get_key(self, key_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/admin/keys/{quote(key_id, safe='')}")

    def update_key(self, key_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self._call("PATCH", f"/v1/admin/keys/{quote(key_id, safe='')}", json=patch)

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/v1/admin/keys/{quote(key_id, safe='')}")

    def put_team(self, team_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("PUT", f"/v1/admin/teams/{quote(team_id, safe='')}", json=body)

    def get_team(self, team_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/admin/teams/{quote(team_id, safe='')}")

    def list_teams(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._call("GET", "/v1/admin/teams")["data"]
        return found

    def spend(self, params: dict[str, str]) -> dict[str, Any]:
        return self._call("GET", "/v1/spend", params=params)
