"""Client API keys, managed in two places that must agree: API Gateway and the secret.

A client's key is an API Gateway API key (on a usage plan, so it is throttled and given a
quota) whose value is also stored in the client-keys secret that the token authorizer
reads (``{"<client name>": "<key>"}``). ``create`` and ``revoke`` change both; the key is
shown once, at creation. boto3 clients are passed in (moto in tests). Used by ``orchestra
keys`` (direct mode) and, through ``governance.issuer.AwsKeyIssuer``, by the admin API.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from orchestra.errors import InvalidRequest

PREFIX = "sk-orch-"
NAME_PREFIX = "orchestra-"


@dataclass
class ClientKeys:
    apigateway: Any
    secretsmanager: Any
    secret_id: str

    def _load(self) -> dict[str, str]:
        raw = self.secretsmanager.get_secret_value(SecretId=self.secret_id).get("SecretString")
        try:
            value = json.loads(raw or "{}")
        except ValueError:
            value = None
        if not isinstance(value, dict):  # the message never quotes the secret's content
            raise InvalidRequest(f"secret {self.secret_id} is not a JSON object")
        return {str(k): str(v) for k, v in value.items()}

    def _save(self, clients: dict[str, str]) -> None:
        self.secretsmanager.put_secret_value(
            SecretId=self.secret_id, SecretString=json.dumps(clients, sort_keys=True)
        )

    def names(self) -> list[str]:
        return sorted(self._load())

    def create(self, name: str, usage_plan_id: str) -> str:
        """A new key for ``name`` on the usage plan; returns it (it is not shown again)."""
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise InvalidRequest("client names use letters, digits, '-' and '_'")
        clients = self._load()
        if name in clients:
            raise InvalidRequest(f"client {name!r} already has a key: revoke it first")
        key = PREFIX + secrets.token_urlsafe(32)
        created = self.apigateway.create_api_key(
            name=NAME_PREFIX + name, value=key, enabled=True, description=f"Orchestra {name}"
        )
        try:
            self.apigateway.create_usage_plan_key(
                usagePlanId=usage_plan_id, keyId=created["id"], keyType="API_KEY"
            )
            self._save({**clients, name: key})
        except Exception:
            self.apigateway.delete_api_key(apiKey=created["id"])  # leave nothing half-made
            raise
        return key

    def revoke(self, name: str, *, missing_ok: bool = False) -> int:
        """Remove ``name`` from the secret first (the authorizer stops accepting it when its
        caches expire), then delete its API Gateway key (which takes it off every plan).

        Only the key named ``orchestra-<name>`` whose value is the stored key is deleted: API
        keys belong to the account and region, so another stack's client of the same name
        keeps its own. Returns how many API Gateway keys were deleted (0: already gone);
        a name with no key is an error unless ``missing_ok`` (then -1, nothing written).
        """
        clients = self._load()
        if name not in clients:
            if missing_ok:
                return -1
            raise InvalidRequest(f"no client named {name!r}")
        key = clients.pop(name)
        self._save(clients)
        matching = [k for k in self._gateway_keys(NAME_PREFIX + name) if k.get("value") == key]
        for found in matching:
            self.apigateway.delete_api_key(apiKey=found["id"])
        return len(matching)

    def _gateway_keys(self, full_name: str) -> list[dict[str, Any]]:
        """API keys named exactly ``full_name`` (``nameQuery`` matches a prefix), with values."""
        found: list[dict[str, Any]] = []
        pages = self.apigateway.get_paginator("get_api_keys").paginate(
            nameQuery=full_name, includeValues=True
        )
        for page in pages:
            found += [k for k in page.get("items", []) if k.get("name") == full_name]
        return found
