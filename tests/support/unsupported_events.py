"""Lambda events the API functions refuse with a 400: not an API Gateway proxy request, or
one missing a piece Mangum's translation reads. Each is built from a sample event in
``events/generate`` (what API Gateway sends) with one thing changed, and comes with the
reason the refusal gives.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events" / "generate"


def _sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def _v2() -> dict[str, Any]:
    return _sample("http_v2_health.json")


def _rest() -> dict[str, Any]:
    return _sample("rest_v1_models_rankings.json")


def _without(event: dict[str, Any], *path: str) -> dict[str, Any]:
    """``event`` with the key at ``path`` removed."""
    event = copy.deepcopy(event)
    parent = event
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return event


def _with(event: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    """``event`` with the key at ``path`` set to ``value``."""
    event = copy.deepcopy(event)
    parent = event
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return event


#: an Application Load Balancer's request to a Lambda target (AWS's documented sample)
ALB = {
    "requestContext": {
        "elb": {
            "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
            "targetgroup/orchestra/6d0ecf831eec9f09"
        }
    },
    "httpMethod": "GET",
    "path": "/health",
    "queryStringParameters": {},
    "headers": {"host": "orchestra-123.us-east-1.elb.amazonaws.com", "x-forwarded-port": "443"},
    "body": "",
    "isBase64Encoded": False,
}

HTTP = "requestContext.http"

#: name -> (event, the refusal's reason); the names are the tests' ids
UNSUPPORTED: dict[str, tuple[Any, str]] = {
    "scheduled event": ({"source": "aws.events", "detail": {}}, "no requestContext"),
    "not an object": (["a", "list"], "no requestContext"),
    "empty requestContext": ({"requestContext": {}}, "no version or resource"),
    "requestContext not an object": (
        _with(_v2(), "ctx", "requestContext"),
        "requestContext is not an object",
    ),
    "ALB request": (ALB, "an Application Load Balancer request"),
    "v2 without http": (
        _without(_v2(), "requestContext", "http"),
        f"an HTTP API (v2) request without {HTTP}",
    ),
    "v2 without method and sourceIp": (
        _without(_without(_v2(), "requestContext", "http", "method"), *HTTP.split("."), "sourceIp"),
        f"an HTTP API (v2) request without {HTTP}.method, {HTTP}.sourceIp",
    ),
    "REST without httpMethod": (
        _without(_rest(), "httpMethod"),
        "a REST (v1) request without httpMethod",
    ),
    "REST with a null path": (
        _with(_rest(), None, "path"),
        "a REST (v1) request without path",
    ),
    "v2 with null headers": (
        _with(_v2(), None, "headers"),
        "a malformed proxy request (AttributeError)",
    ),
    "REST with a null identity": (
        _with(_rest(), None, "requestContext", "identity"),
        "a malformed proxy request (AttributeError)",
    ),
}
