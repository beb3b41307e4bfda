"""Field checks for Anthropic Messages bodies: each refusal a 400 naming the field's path in
Anthropic's terms (``messages.1.content.0.source.media_type``)."""

from __future__ import annotations

from typing import Any, NoReturn

from orchestra.errors import InvalidRequest


def fail(path: str, message: str) -> NoReturn:
    raise InvalidRequest(f"{path}: {message}", param=path, code="invalid_value")


def get(
    obj: dict[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    *,
    path: str = "",
    required: bool = True,
) -> Any:
    where = f"{path}.{key}" if path else key
    value = obj.get(key)
    if value is None:
        if required:
            raise InvalidRequest(f"{where}: Field required", param=where, code="missing_parameter")
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        fail(where, f"Input should be a valid {KIND_NAMES.get(kind, 'value')}")
    return value


KIND_NAMES: dict[type | tuple[type, ...], str] = {
    str: "string",
    int: "integer",
    (int, float): "number",
    dict: "dictionary",
    list: "list",
    bool: "boolean",
}


def number(
    body: dict[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    *,
    low: float | None = None,
    high: float | None = None,
    required: bool = True,
) -> Any:
    value = get(body, key, kind, required=required)
    if value is None:
        return None
    if low is not None and value < low:
        fail(key, f"Input should be greater than or equal to {low:g}")
    if high is not None and value > high:
        fail(key, f"Input should be less than or equal to {high:g}")
    return value


def block_type(block: Any, path: str) -> str:
    if not isinstance(block, dict):
        fail(path, "Input should be a content block object")
    return str(get(block, "type", str, path=path))
