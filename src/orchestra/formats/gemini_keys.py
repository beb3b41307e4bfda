"""Google's JSON takes field names in camelCase or snake_case (google-genai itself sends
``inlineData.mime_type``): one spelling, camelCase, before anything reads the body."""

from __future__ import annotations

from typing import Any

#: values that are the client's own data: their keys are left as they are
FREE_FORM = frozenset(
    {"args", "response", "parametersJsonSchema", "responseJsonSchema", "labels", "default"}
)
#: maps whose keys are names (a schema's properties) and whose values are still Google's
NAMED = frozenset({"properties"})


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def camel_keys(value: Any) -> Any:
    """``value`` with every Google field name in camelCase (the client's data untouched)."""
    if isinstance(value, list):
        return [camel_keys(item) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = camel(key) if "_" in key else key
        if name in FREE_FORM:
            out[name] = item
        elif name in NAMED and isinstance(item, dict):
            out[name] = {k: camel_keys(v) for k, v in item.items()}
        else:
            out[name] = camel_keys(item)
    return out
