"""Invoking the API functions in ``functions/`` as Lambda does: module once, app per test."""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import botocore.client
import pytest
from moto import mock_aws

from orchestra.aws_lambda.app import LambdaApp
from orchestra.storage.tables import create_tables

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
TABLES = {"models": "orch-models", "breakers": "orch-breakers", "metrics": "orch-metrics"}
ALL_TABLES = {**TABLES, "debates": "orch-debates"}
CLIENT_KEY = "sample-client-key"  # what the sample events send as Bearer

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


def import_handler(function: str, name: str | None = None) -> Any:
    """A fresh import of ``functions/<function>/handler.py`` (a new execution environment)."""
    name = name or f"{function}_handler"
    spec = importlib.util.spec_from_file_location(
        name, ROOT / "functions" / function / "handler.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_handler(function: str) -> Any:
    """``functions/<function>/handler.py`` (imported once, as Lambda does) with a new app:
    a fresh execution environment, built on its first invocation."""
    module = _MODULES.get(function)
    if module is None:
        module = _MODULES[function] = import_handler(function)
    app = LambdaApp(
        metrics=module.function.metrics,
        routers=module.function.app.routers,
        root=module.function.app.root,
    )
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


@contextlib.contextmanager
def deployed(
    monkeypatch: pytest.MonkeyPatch,
    config: Path,
    provider_keys: Mapping[str, str],
    *,
    moto_config: dict[str, Any] | None = None,
    tables: Mapping[str, str] = TABLES,
) -> Iterator[Any]:
    """The deployed configuration under moto: AWS mode, the tables built from the shared
    specs, provider and client keys in Secrets Manager, providers from ``config``."""
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()  # another test's secret of the same name may be cached
    with mock_aws(config=moto_config):  # type: ignore[arg-type]
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(dynamodb, tables)
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        secrets.create_secret(Name="orch/provider-keys", SecretString=json.dumps(provider_keys))
        secrets.create_secret(
            Name="orch/api-keys", SecretString=json.dumps({"client-1": CLIENT_KEY})
        )
        env = {
            "ORCHESTRA_MODE": "aws",
            "ORCHESTRA_CONFIG": str(config),
            "ORCHESTRA_ALLOW_PRIVATE_BASE_URLS": "true",
            "ORCHESTRA_PROVIDER_KEYS_SECRET": "orch/provider-keys",
            "ORCHESTRA_API_KEYS_SECRET": "orch/api-keys",
            "ORCHESTRA_MODELS_TABLE": TABLES["models"],
            "ORCHESTRA_BREAKERS_TABLE": TABLES["breakers"],
            "ORCHESTRA_METRICS_TABLE": TABLES["metrics"],
            "ORCHESTRA_DEBATES_TABLE": tables.get("debates", ""),
            "ORCHESTRA_DEFAULT_PROFILE": "balanced",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_DEV": "false",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield dynamodb


class CallCounter:
    """Counts every AWS API call made through botocore."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = botocore.client.BaseClient._make_api_call

        def counting(client: Any, operation: str, params: dict[str, Any]) -> Any:
            self.calls.append((client.meta.service_model.service_name, operation))
            return original(client, operation, params)

        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)

    def dynamodb(self) -> list[str]:
        return [op for service, op in self.calls if service == "dynamodb"]
