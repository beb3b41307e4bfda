"""API Gateway Lambda authorizer: the client's key against the client keys.

Two event shapes (``infra/constructs/api.py`` says which routes get which): a TOKEN event
(``authorizationToken`` is the ``Authorization`` header, ``Bearer <key>``), and a REQUEST
event, whose key is found as the app finds it (``api/deps.py: presented_credentials``):
``Authorization: Bearer``, else ``x-api-key`` (the Anthropic SDK), else ``x-goog-api-key``
(google-genai), else ``?key=`` under ``/v1beta/`` and ``/v1/models/`` (Gemini REST); header names in any case.

The client's key is also the value of its API Gateway API key (``orchestra keys create``
makes both), so the answer's ``usageIdentifierKey`` lets the usage plan throttle and quota
that client (``apiKeySource: AUTHORIZER``). API Gateway caches a decision per token for
every method of the stage, so the policy covers the whole stage, not the one method asked.

A refusal is the exception whose message is exactly ``Unauthorized`` (:class:`Refused`):
API Gateway then answers 401 (in OpenAI's shape, see ``infra/gateway_responses.py``). A malformed
event or ``methodArn`` is refused the same way. Keys never reach a log line or an error.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Mapping
from typing import Any

from orchestra.api.auth import key_digest

log = logging.getLogger("orchestra.authorizer")

#: arn:aws:execute-api:<region>:<account>:<api id>/<stage>/<VERB>/<path...>; ASCII only and
#: no wildcard anywhere, so a forged ARN cannot widen the policy (stage names are [\w-]+)
METHOD_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):execute-api:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):"
    r"(?P<api>[A-Za-z0-9]+)/(?P<stage>[A-Za-z0-9_-]+)/",
    re.ASCII,
)


class Refused(Exception):
    """Raise to make API Gateway answer 401."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


class KeysUnavailable(RuntimeError):
    """The client keys cannot be read: API Gateway answers 500 (``AUTHORIZER_*`` responses),
    not a 401 that would tell a client with a good key that its key is wrong."""

    def __init__(self) -> None:
        super().__init__("client keys unavailable")


def bearer_token(header: Any) -> str | None:
    """The key from ``Bearer <key>`` (any case, surrounding spaces ignored), else None."""
    if not isinstance(header, str):
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def _header(headers: Any, name: str) -> str | None:
    """A header's value, its name in any case (REQUEST events keep the client's case)."""
    if not isinstance(headers, dict):
        return None
    found = [v for k, v in headers.items() if isinstance(k, str) and k.lower() == name]
    return found[0] if found and isinstance(found[0], str) else None


def request_token(event: Mapping[str, Any]) -> str | None:
    """The key of a REQUEST event, in the app's order (see the module docstring)."""
    headers = event.get("headers")
    authorization = _header(headers, "authorization")
    if authorization is not None:
        return bearer_token(authorization)
    key = _header(headers, "x-api-key") or _header(headers, "x-goog-api-key")
    path = event.get("path")
    query = event.get("queryStringParameters")
    if key is None and isinstance(path, str) and path.startswith(("/v1beta/", "/v1/models/")):
        key = query.get("key") if isinstance(query, dict) else None
    key = key.strip() if isinstance(key, str) else None
    return key if key and " " not in key else None


def presented_token(event: Mapping[str, Any]) -> str | None:
    """The key of a TOKEN or a REQUEST event, else None."""
    if event.get("type") == "REQUEST":
        return request_token(event)
    return bearer_token(event.get("authorizationToken"))


def stage_resource(method_arn: Any) -> str | None:
    """Every method of the stage the request came to (the decision is cached per token)."""
    match = METHOD_ARN.match(method_arn) if isinstance(method_arn, str) else None
    if match is None:
        return None
    return (
        f"arn:{match['partition']}:execute-api:{match['region']}:{match['account']}:"
        f"{match['api']}/{match['stage']}/*/*"
    )


def find_client(token: str, clients: Mapping[str, str]) -> str | None:
    """The client whose key is ``token``; every key is compared, in constant time."""
    presented = key_digest(token)
    found = None
    for name, key in clients.items():
        if hmac.compare_digest(presented, key_digest(key)) and found is None:
            found = name
    return found


def authorize(event: Any, clients: Mapping[str, str]) -> dict[str, Any]:
    """The authorizer's answer for a TOKEN or REQUEST event, or :class:`Refused`."""
    event = event if isinstance(event, dict) else {}
    resource = stage_resource(event.get("methodArn"))
    token = presented_token(event)
    if resource is None:
        log.warning("authorizer event without a usable methodArn: refused")
        raise Refused
    client = find_client(token, clients) if token else None
    if client is None:
        log.info("refused: %s", "unknown key" if token else "no key")
        raise Refused
    log.info("allowed", extra={"client": client})
    return {
        "principalId": client,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}
            ],
        },
        "usageIdentifierKey": token,
        "context": {"client": client},
    }
