"""The OpenAPI document at ``/openapi.json``: a contract a generated client can use.

FastAPI's document is post-processed once, when first asked for:

- request bodies are pydantic schemas declared with ``openapi_extra``; each one and its
  nested ``$defs`` become ``components/schemas`` entries (``#/$defs/X`` resolves nowhere in
  an OpenAPI document). A name already taken by a different schema (the same model in its
  serialisation form, say) gets an ``-Input`` suffix;
- every operation documents its error answers in its format's shape (OpenAI's
  ``ErrorResponse``; Anthropic's under ``/v1/messages``, with 529 for overloaded; Google's
  under ``/v1beta``): the app's own and API Gateway's (its key check, throttling, size
  limit, timeouts);
- FastAPI's default 422 goes: validation failures are answered with a 400;
- ``/v1`` operations declare the key they need, as their clients send it (Bearer, and
  ``x-api-key`` for Anthropic's paths, ``x-goog-api-key`` for Google's).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

Json = dict[str, Any]

DEFS = "#/$defs/"
COMPONENTS = "#/components/schemas/"
ERROR_REF = {"$ref": COMPONENTS + "ErrorResponse"}
RETRY_AFTER = {
    "retry-after": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 1},
    }
}
#: status -> what answers with it
ERRORS: dict[int, str] = {
    400: "Invalid request: a malformed body or parameter (`param` names it)",
    401: "Missing or incorrect API key",
    404: "Unknown model, debate or route",
    413: "Request body too large",
    429: "Rate limited, by the gateway or by every upstream (see Retry-After)",
    500: "Unexpected error (the body holds no internals)",
    502: "Upstream failure: every model failed, or a function error",
    503: "Upstreams overloaded or storage unavailable (see Retry-After)",
    504: "Timed out",
}
#: ``/health`` is public and takes no input: only throttling and server failures apply
PUBLIC_ERRORS = (429, 500, 502, 503, 504)
BEARER = {"bearerAuth": {"type": "http", "scheme": "bearer", "description": "Orchestra key"}}
SECURITY = {
    **BEARER,
    "anthropicKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
    "googleKey": {"type": "apiKey", "in": "header", "name": "x-goog-api-key"},
}
#: path prefix -> (error schema, security schemes, statuses renamed): a format's own shape
FORMATS: dict[str, tuple[str, tuple[str, ...], dict[int, int]]] = {
    "/v1/messages": ("AnthropicErrorResponse", ("bearerAuth", "anthropicKey"), {503: 529}),
    "/v1beta/": ("GoogleErrorResponse", ("bearerAuth", "googleKey"), {}),
}
OVERLOADED = "Every upstream overloaded (Anthropic's 529)"


def install_openapi(app: FastAPI) -> None:
    def openapi() -> Json:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = contract(doc)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def contract(doc: Json) -> Json:
    """FastAPI's document made self-contained, with errors and security documented."""
    from orchestra.schemas import errors  # built for the document only

    components = doc.setdefault("components", {})
    schemas: Json = components.setdefault("schemas", {})
    for model in (errors.ErrorResponse, errors.AnthropicErrorResponse, errors.GoogleErrorResponse):
        _register(model.model_json_schema(ref_template=COMPONENTS + "{model}"), schemas)
    for path, operations in doc.get("paths", {}).items():
        public = not path.startswith("/v1")
        shape, security, renamed = next(
            (f for prefix, f in FORMATS.items() if path.startswith(prefix)),
            ("ErrorResponse", tuple(BEARER), {}),
        )
        for operation in operations.values():
            _lift_body(operation, schemas)
            statuses = PUBLIC_ERRORS if public else tuple(ERRORS)
            if "requestBody" not in operation:  # nothing to be too large
                statuses = tuple(s for s in statuses if s != 413)
            statuses = tuple(renamed.get(s, s) for s in statuses)
            _document_errors(operation, statuses, {"$ref": COMPONENTS + shape})
            if not public:
                operation["security"] = [{name: []} for name in security]
    components["securitySchemes"] = SECURITY
    for unused in ("HTTPValidationError", "ValidationError"):
        if COMPONENTS + unused not in str(doc["paths"]):
            schemas.pop(unused, None)
    return doc


def _lift_body(operation: Json, schemas: Json) -> None:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is not None and "schema" in content:
        content["schema"] = _register(content["schema"], schemas)


def _register(schema: Json, schemas: Json) -> Json:
    """A model's schema into ``schemas`` (with its ``$defs``); a reference to it back."""
    schema = copy.deepcopy(schema)
    if "allOf" in schema and "properties" not in schema:  # a composition of models
        schema["allOf"] = [_register(part, schemas) for part in schema["allOf"]]
    defs: Json = schema.pop("$defs", {})
    title = schema.get("title")
    if isinstance(title, str) and "properties" in schema:
        defs[title] = schema
    names = _names(defs, schemas)
    for name, definition in defs.items():
        schemas[names[name]] = _rewrite(definition, names)
    if isinstance(title, str) and title in names:
        return {"$ref": COMPONENTS + names[title]}
    return _rewrite(schema, names)  # type: ignore[no-any-return]


def _names(defs: Json, schemas: Json) -> dict[str, str]:
    """Each definition's component name: its own unless a different schema holds it."""
    names = {name: name for name in defs}
    for _ in range(len(defs) + 1):
        clashes = [
            n
            for n, d in defs.items()
            if names[n] in schemas and schemas[names[n]] != _rewrite(d, names)
        ]
        if not clashes:
            return names
        for name in clashes:
            names[name] = _free_name(name, _rewrite(defs[name], names), schemas)
    return names


def _free_name(name: str, definition: Json, schemas: Json) -> str:
    """``X-Input`` (``X-Input2``...): the first free name, or one holding this very schema."""
    candidate, i = f"{name}-Input", 2
    while schemas.get(candidate, definition) != definition:
        candidate, i = f"{name}-Input{i}", i + 1
    return candidate


def _rewrite(node: Any, names: dict[str, str]) -> Any:
    """A copy of ``node`` with every ``#/$defs/X`` reference pointing into components."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(DEFS):
            name = ref.removeprefix(DEFS)
            return {**node, "$ref": COMPONENTS + names.get(name, name)}
        return {k: _rewrite(v, names) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v, names) for v in node]
    return node


def _document_errors(operation: Json, statuses: tuple[int, ...], shape: Json = ERROR_REF) -> None:
    responses: Json = operation.setdefault("responses", {})
    responses.pop("422", None)
    for status in statuses:
        entry = responses.setdefault(str(status), {"description": ERRORS.get(status, OVERLOADED)})
        entry.setdefault("content", {"application/json": {"schema": shape}})
        if status in (429, 503, 529):
            entry.setdefault("headers", RETRY_AFTER)
