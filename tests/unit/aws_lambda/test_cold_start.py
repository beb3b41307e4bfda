"""Cold start: what the generate function loads to answer its first request, and what a
SnapStart snapshot holds. Each check runs in a fresh interpreter (``sys.modules`` of the
test session says nothing about a new execution environment)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import orchestra

ROOT = Path(__file__).resolve().parents[3]
SRC = Path(orchestra.__file__).resolve().parents[1]

FIRST_REQUEST = """
import gc, json, sys
sys.path.insert(0, {handler_dir!r})
import handler
event = json.load(open({event!r}))
class Context:
    function_name = "cold"; memory_limit_in_mb = 1024; aws_request_id = "r"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cold"
status = handler.handler(event, Context())["statusCode"]
heap = {{"frozen": gc.get_freeze_count(), "gen0": gc.get_threshold()[0]}}
print(json.dumps({{"status": status, "modules": sorted(sys.modules), "heap": heap}}))
"""

PREWARM = """
import json, sys
from orchestra.aws_lambda.app import LambdaApp
from orchestra.schemas.multi import MultiOptions
from orchestra.schemas.debate import DebateView
before = [MultiOptions.__pydantic_complete__, DebateView.__pydantic_complete__]
LambdaApp().prewarm()
after = [MultiOptions.__pydantic_complete__, DebateView.__pydantic_complete__]
print(json.dumps({"before": before, "after": after, "rapidfuzz": "rapidfuzz.fuzz" in sys.modules}))
"""


def _run(code: str) -> dict[str, object]:
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "ORCHESTRA_SIMULATOR": "true",
        "ORCHESTRA_SIMULATOR_LATENCY_SCALE": "0",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    env.pop("AWS_LAMBDA_INITIALIZATION_TYPE", None)
    env.pop("ORCHESTRA_GC_TUNING", None)  # the deployed default
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def first_request() -> dict[str, object]:
    """Import the generate handler and answer one chat request, in a fresh interpreter."""
    result = _run(
        FIRST_REQUEST.format(
            handler_dir=str(ROOT / "functions" / "generate"),
            event=str(ROOT / "events" / "generate" / "http_v2_chat_completions.json"),
        )
    )
    assert result["status"] == 200
    return result


@pytest.fixture(scope="module")
def generate_modules(first_request: dict[str, object]) -> set[str]:
    """The modules loaded by importing the generate handler and answering one chat request."""
    modules = first_request["modules"]
    assert isinstance(modules, list)
    return set(modules)


def test_the_built_function_takes_its_heap_out_of_the_collectors_way(
    first_request: dict[str, object],
) -> None:
    # the start-up heap (thousands of objects) frozen, young collections ten times rarer
    heap = first_request["heap"]
    assert isinstance(heap, dict)
    assert heap["frozen"] > 10_000
    assert heap["gen0"] == 7_000


def _loaded(modules: set[str], *packages: str) -> list[str]:
    """Those of ``modules`` that are one of ``packages`` or inside one."""
    inside = tuple(p + "." for p in packages)
    return sorted(m for m in modules if m in packages or m.startswith(inside))


def test_generate_loads_no_sync_step_functions_or_rarely_used_libraries(
    generate_modules: set[str],
) -> None:
    # the catalog sync, the debate starter, the providers file's YAML, fusion's rapidfuzz,
    # and (tracing off, local mode) the X-Ray SDK, boto3 and botocore's clients
    unused = ("orchestra.sync", "orchestra.storage.stepfunctions", "yaml", "rapidfuzz")
    aws = ("aws_xray_sdk", "boto3", "botocore.client")
    assert _loaded(generate_modules, *unused, *aws) == []


def test_generate_loads_no_other_use_case(generate_modules: set[str]) -> None:
    other = ("orchestra.debate", "orchestra.multi", "orchestra.panel", "orchestra.fusion")
    assert _loaded(generate_modules, *other, "orchestra.sync") == []


def test_a_snapshot_holds_what_is_otherwise_built_at_first_use() -> None:
    # models declared with defer_build, and rapidfuzz (fusion imports it when first used)
    result = _run(PREWARM)
    assert result == {"before": [False, False], "after": [True, True], "rapidfuzz": True}


def test_generate_loads_no_telemetry_library(generate_modules: set[str]) -> None:
    # /metrics and OTLP spans are orchestra serve's: the function never loads them
    # (the OpenTelemetry API itself is FastAPI's import)
    heavy = ("prometheus_client", "opentelemetry.sdk", "opentelemetry.exporter")
    assert _loaded(generate_modules, *heavy, "orchestra.telemetry.otel") == []


def test_the_admin_function_loads_no_model_calling_use_case() -> None:
    # Given the admin function
    # When it answers its first spend request in a fresh interpreter
    result = _run(
        FIRST_REQUEST.format(
            handler_dir=str(ROOT / "functions" / "admin"),
            event=str(ROOT / "events" / "admin" / "rest_v1_spend_by_model.json"),
        )
    )
    assert result["status"] == 200
    modules = result["modules"]
    assert isinstance(modules, list)
    # Then none of the use cases that call models, nor their libraries, was imported
    other = ("orchestra.debate", "orchestra.multi", "orchestra.panel", "orchestra.fusion")
    assert _loaded(set(modules), *other, "orchestra.sync", "rapidfuzz", "yaml") == []
