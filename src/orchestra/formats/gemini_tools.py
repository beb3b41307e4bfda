"""Gemini ``tools``, ``toolConfig`` and OpenAPI-subset schemas, as chat tools and JSON Schema."""

from __future__ import annotations

from typing import Any

from orchestra.formats.gemini_contents import as_list, as_object, as_text, refuse

#: Gemini's built-in tools: run by Google's servers, nothing another vendor can do
BUILT_INS = (
    "googleSearch",
    "googleSearchRetrieval",
    "codeExecution",
    "urlContext",
    "computerUse",
    "fileSearch",
    "googleMaps",
    "retrieval",
    "enterpriseWebSearch",
)
#: Schema keywords with no JSON Schema meaning (or one Gemini alone uses)
DROPPED = {"propertyOrdering", "example", "nullable"}
#: Schema keywords Google's JSON encodes as strings (int64)
INTEGERS = {"minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"}


def to_tools(value: Any) -> list[dict[str, Any]]:
    """``tools[*].functionDeclarations`` as chat function tools; built-ins are refused."""
    tools: list[dict[str, Any]] = []
    for i, tool in enumerate(as_list(value, "tools")):
        tool = as_object(tool, f"tools[{i}]")
        for key in tool:
            if key in BUILT_INS:
                raise refuse(
                    f"tools[{i}].{key}",
                    f"the built-in tool '{key}' is not supported by this gateway; "
                    "declare functions with functionDeclarations instead",
                )
            if key != "functionDeclarations":
                raise refuse(f"tools[{i}].{key}", f"unknown tool kind '{key}'")
        declarations = as_list(tool.get("functionDeclarations", []), f"tools[{i}]")
        for j, declaration in enumerate(declarations):
            tools.append(_function(declaration, f"tools[{i}].functionDeclarations[{j}]"))
    return tools


def _function(value: Any, where: str) -> dict[str, Any]:
    declaration = as_object(value, where)
    function: dict[str, Any] = {"name": as_text(declaration.get("name"), f"{where}.name")}
    if declaration.get("description"):
        function["description"] = as_text(declaration["description"], f"{where}.description")
    if "parametersJsonSchema" in declaration:
        as_object(declaration["parametersJsonSchema"], f"{where}.parametersJsonSchema")
        function["parameters"] = declaration["parametersJsonSchema"]
    elif "parameters" in declaration:
        function["parameters"] = json_schema(declaration["parameters"], f"{where}.parameters")
    else:
        function["parameters"] = {"type": "object", "properties": {}}
    return {"type": "function", "function": function}


def json_schema(value: Any, where: str) -> dict[str, Any]:
    """Gemini's Schema (``type: "OBJECT"``, ``nullable``, int64 strings) as JSON Schema."""
    schema = as_object(value, where)
    out: dict[str, Any] = {}
    for key, item in schema.items():
        if key in DROPPED:
            continue
        if key == "type" and isinstance(item, str):
            out["type"] = item.lower()
        elif key == "properties":
            props = as_object(item, f"{where}.properties")
            out[key] = {k: json_schema(v, f"{where}.properties.{k}") for k, v in props.items()}
        elif key == "items":
            out[key] = json_schema(item, f"{where}.items")
        elif key == "anyOf":
            items = as_list(item, f"{where}.anyOf")
            out[key] = [json_schema(v, f"{where}.anyOf[{n}]") for n, v in enumerate(items)]
        elif key in INTEGERS and isinstance(item, str) and item.isdigit():
            out[key] = int(item)
        else:
            out[key] = item
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def to_tool_choice(value: Any, tools: list[dict[str, Any]]) -> str | dict[str, Any] | None:
    """``toolConfig.functionCallingConfig`` (mode, allowedFunctionNames) as ``tool_choice``;
    several allowed names narrow ``tools`` to them (in place)."""
    where = "toolConfig.functionCallingConfig"
    config = as_object(as_object(value, "toolConfig").get("functionCallingConfig", {}), where)
    mode = str(config.get("mode") or "AUTO").upper()
    allowed = as_list(config.get("allowedFunctionNames", []), f"{where}.allowedFunctionNames")
    if mode in ("AUTO", "VALIDATED", "MODE_UNSPECIFIED"):
        return "auto" if tools else None
    if mode == "NONE":
        return "none"
    if mode != "ANY":
        raise refuse(f"{where}.mode", f"unknown mode '{mode}' (expected AUTO, ANY or NONE)")
    if not allowed:
        return "required"
    known = {t["function"]["name"] for t in tools}
    for n, name in enumerate(allowed):
        if name not in known:
            raise refuse(f"{where}.allowedFunctionNames[{n}]", f"no function named '{name}'")
    if len(allowed) == 1:
        return {"type": "function", "function": {"name": allowed[0]}}
    tools[:] = [t for t in tools if t["function"]["name"] in allowed]
    return "required"
