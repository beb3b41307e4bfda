"""``/openapi.json`` is a usable contract: valid, self-contained, and what the app does.

schemathesis generates requests from the document (valid and invalid ones) and runs every
check against the app in-process: no server error, every status and body documented, valid
requests accepted, invalid ones refused, the key required.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import positive_data_acceptance

from orchestra.api.app import create_app
from orchestra.compose import build_services
from orchestra.config import Settings

KEY = "client-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


def _app() -> Any:
    config = Settings(api_keys=KEY, simulator_latency_scale=0.0)
    return create_app(build_services(config, {}))


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return _app().openapi()


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    refs = set(re.findall(r'"\$ref": "([^"]+)"', json.dumps(document)))
    schemas = document["components"]["schemas"]
    assert refs, "the document references no component"
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def _error_shape(path: str) -> str:
    if path.startswith("/v1/messages"):
        return "AnthropicErrorResponse"
    return "GoogleErrorResponse" if path.startswith("/v1beta/") else "ErrorResponse"


def test_every_operation_documents_its_errors_in_its_formats_shape(
    document: dict[str, Any],
) -> None:
    detail = document["components"]["schemas"]["ErrorDetail"]
    assert set(detail["required"]) == {"message", "type", "param", "code"}
    for path, operations in document["paths"].items():
        error = {"$ref": "#/components/schemas/" + _error_shape(path)}
        for method, operation in operations.items():
            responses = operation["responses"]
            wanted = {"429", "500"} if path == "/health" else {"400", "401", "404", "429", "500"}
            if "requestBody" in operation:
                wanted.add("413")
            assert wanted <= set(responses), (method, path)
            assert "422" not in responses, (method, path)  # validation failures are 400s
            for status in wanted:
                assert responses[status]["content"]["application/json"]["schema"] == error
            if path != "/health":
                assert {"bearerAuth": []} in operation["security"], (method, path)


def test_parameters_say_what_the_app_accepts(document: dict[str, Any]) -> None:
    (debate_id,) = document["paths"]["/v1/debates/{debate_id}"]["get"]["parameters"]
    assert debate_id["schema"]["pattern"] == "^dbt_[0-9a-f]{26}$"
    (profile,) = document["paths"]["/v1/models/rankings"]["get"]["parameters"]
    assert profile["schema"]["enum"] == ["quality", "balanced", "speed", "budget", "long_context"]


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.auth()
class BearerKey:
    def get(self, case: Any, ctx: Any) -> str:
        return KEY

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schema.hook
def filter_body(ctx: Any, body: Any) -> bool:
    """Bodies the app is not asked to judge here, for multi-generate:

    - a quorum above the models asked for: the one rule the document states only in words
      (JSON Schema says it only with a branch per value, more than generators expand);
    - a time budget under a second: every model "times out" and the answer is the
      documented 502, which the server-error check cannot tell from a crash.
    """
    if ctx.operation.path != "/v1/multi-generate" or not isinstance(body, dict):
        return True
    quorum, models, count = body.get("quorum"), body.get("models"), body.get("count")
    wanted = len(models) if isinstance(models, list) else count
    numbers = (int, float)  # JSON's integers may come as 13.0
    if isinstance(quorum, numbers) and isinstance(wanted, numbers) and quorum > wanted:
        return False
    budgets = [body.get(k) for k in ("timeout_s", "deadline_s")]
    return not any(isinstance(b, int | float) and b < 1 for b in budgets)


#: 400s that depend on the deployment, not on the document: no configured model can serve the
#: request (window, capabilities), more models than ``multi_max_models``, a named model whose
#: provider is not configured
DEPLOYMENT_REFUSALS = {"no_candidates", "invalid_request"}
#: 400s about an uploaded file's contents (a batch file's lines), which a multipart schema's
#: ``format: binary`` cannot state
CONTENT_REFUSALS = {"invalid_file"}


def positive_data_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis' positive_data_acceptance, except for the refusals above (only those)."""
    refused = response.status_code == 400 and case.meta.generation.mode.is_positive
    if refused and response.json()["error"].get("code") in DEPLOYMENT_REFUSALS | CONTENT_REFUSALS:
        return None
    return positive_data_acceptance(ctx, response, case)


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_the_fuzzer_finds_nothing(case: Any) -> None:
    # every check: server errors, status and schema conformance, positive data accepted,
    # negative data rejected, missing key refused
    case.call_and_validate(
        excluded_checks=[positive_data_acceptance],
        additional_checks=[positive_data_accepted],
    )


async def test_an_unknown_query_parameter_is_refused_not_ignored() -> None:
    import httpx

    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        ok = await client.get("/v1/models/rankings?profile=speed", headers=AUTH)
        typo = await client.get("/v1/models/rankings?profle=speed", headers=AUTH)
    assert ok.status_code == 200 and ok.json()["profile"] == "speed"
    assert typo.status_code == 400
    assert typo.json()["error"] == {
        "message": "Unknown query parameter 'profle'",
        "type": "invalid_request_error",
        "param": "profle",
        "code": "unknown_parameter",
    }
