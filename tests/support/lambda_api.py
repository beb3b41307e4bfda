"""Invoking the API functions in ``functions/`` as Lambda does: module once, app per test."""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from orchestra.lambda_runtime import LambdaApp

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"

_MODULES: dict[str, Any] = {}
_APPS: list[LambdaApp] = []


class Context:
    """The part of the Lambda context Powertools reads."""

    memory_limit_in_mb = 1024
    aws_request_id = "f3a1e2d4-0000-4000-8000-000000000001"

    def __init__(self, function: str = "generate") -> None:
        self.function_name = f"orchestra-{function.replace('_', '-')}"
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        )

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 29_000


def load_handler(function: str) -> Any:
    """``functions/<function>/handler.py`` (imported once, as Lambda does) with a new app:
    a fresh execution environment, built on its first invocation."""
    module = _MODULES.get(function)
    if module is None:
        path = ROOT / "functions" / function / "handler.py"
        spec = importlib.util.spec_from_file_location(f"{function}_handler", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[f"{function}_handler"] = module
        spec.loader.exec_module(module)
        _MODULES[function] = module
    app = LambdaApp(metrics=module.function.metrics, routers=module.function.app.routers)
    module.function.app = app
    _APPS.append(app)
    return module


def close_apps() -> None:
    while _APPS:
        _APPS.pop().close()


def sample_event(function: str, name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / function / name).read_text())
    return event


def body_of(response: dict[str, Any]) -> str:
    raw = response.get("body") or ""
    return base64.b64decode(raw).decode() if response.get("isBase64Encoded") else raw


def header_of(response: dict[str, Any], name: str) -> str | None:
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    multi = {k.lower(): v for k, v in (response.get("multiValueHeaders") or {}).items()}
    return headers.get(name) or (multi.get(name) or [None])[0]
