"""The chain API, fuzzed: the example chains mutated at random (fields dropped, wrong types,
deep nesting, huge strings, unknown kinds), PUT as JSON or YAML, never get a 500: each is
saved (200) or refused with a 400 in OpenAI's shape whose ``param`` names where; and a
random ``inputs`` object on a run is started (202) or refused (400), never a 500."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from orchestra.api.app import create_app
from orchestra.compose import build_services
from orchestra.config import Settings

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "chains"
DOCS = {p.stem: yaml.safe_load(p.read_text()) for p in sorted(EXAMPLES.glob("*.yaml"))}
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["generate", "parallel", "map", "condition", "conversation", "sing", ""]),
    st.sampled_from(["{{ inputs.topic }}", "{{ steps.nope.output }}", "{{", "{{ x | eval }}"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(doc: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in the document (12 levels down): each key of an object, each item."""
    yield at
    if len(at) >= 12:
        return
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    )
    for key, value in items:
        yield from _paths(value, (*at, key))


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """An example chain with one to four random changes."""
    doc = copy.deepcopy(DOCS[draw(st.sampled_from(sorted(DOCS)))])
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            return draw(json_values)
        path = draw(st.sampled_from(paths))
        owner = doc
        for key in path[:-1]:
            owner = owner[key]
        how = draw(st.sampled_from(["drop", "wrong", "deep", "huge", "kind"]))
        if how == "drop":
            del owner[path[-1]]
        elif how == "wrong":
            owner[path[-1]] = draw(json_values)
        elif how == "deep":
            owner[path[-1]] = _nested(draw(st.sampled_from([40, 400, 3000])))
        elif how == "huge":
            owner[path[-1]] = "x" * draw(st.sampled_from([70, 70_000, 300_000]))
        else:
            owner[path[-1]] = {"id": "odd", "kind": draw(st.text(max_size=12)), "prompt": "x"}
    return doc


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    config = Settings(simulator=True, simulator_latency_scale=0.0, max_body_bytes=4_000_000)
    app = create_app(build_services(config, {}))
    with TestClient(app, raise_server_exceptions=False) as client:
        brief = (EXAMPLES / "brief.yaml").read_bytes()
        saved = client.put("/v1/chains/brief", content=brief, headers={"content-type": "text/yaml"})
        assert saved.status_code == 200, saved.text
        yield client


def _refused_well(response: Any) -> None:
    assert response.status_code in (200, 400), (response.status_code, response.text[:500])
    if response.status_code == 400:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] == "invalid_request_error" and error["message"]
        assert isinstance(error["param"], str) and error["param"], error
        assert "Traceback" not in error["message"] and "Error:" not in error["message"]


def _dump(doc: Any, as_yaml: bool) -> bytes:
    if as_yaml:
        return yaml.safe_dump(doc, sort_keys=False).encode()
    return json.dumps(doc).encode()


@FUZZ
@given(doc=mutated(), as_yaml=st.booleans())
def test_a_mutated_chain_is_saved_or_refused_naming_where(
    client: TestClient, doc: Any, as_yaml: bool
) -> None:
    kind = "application/yaml" if as_yaml else "application/json"
    try:
        body = _dump(doc, as_yaml)
    except RecursionError:  # too deep for the dumper itself: send it as JSON text by hand
        body, kind = (b"[" * 3000 + b"]" * 3000), "application/json"
    response = client.put("/v1/chains/fuzzed", content=body, headers={"content-type": kind})
    _refused_well(response)


@FUZZ
@given(text=st.text(max_size=400), cut=st.integers(min_value=0, max_value=3000))
def test_broken_yaml_text_is_refused_naming_the_chain(
    client: TestClient, text: str, cut: int
) -> None:
    body = ((EXAMPLES / "brief.yaml").read_text()[:cut] + text).encode()
    response = client.put("/v1/chains/fuzzed", content=body, headers={"content-type": "text/yaml"})
    _refused_well(response)


@FUZZ
@given(inputs=st.dictionaries(st.sampled_from(["topic", "audience", "other", ""]), json_values))
def test_random_inputs_start_a_run_or_are_refused_naming_the_input(
    client: TestClient, inputs: dict[str, Any]
) -> None:
    response = client.post("/v1/chains/brief/runs", json={"inputs": inputs})
    assert response.status_code in (202, 400), (response.status_code, response.text[:500])
    if response.status_code == 400:
        _refused_well(response)
        assert response.json()["error"]["param"].startswith("inputs")


@pytest.mark.parametrize(
    "body",
    [
        b'{"inputs": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"inputs": {"topic": ' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"}}",
        b'{"inputs": {"topic": "' + b"x" * 2_000_000 + b'"}}',
        b'{"inputs": {"topic": 1e999}}',
        b'{"inputs": {"topic": "\\ud800"}}',
    ],
    ids=["deep-list", "deep-object", "huge-string", "infinity", "lone-surrogate"],
)
def test_extreme_inputs_are_never_a_500(client: TestClient, body: bytes) -> None:
    response = client.post(
        "/v1/chains/brief/runs", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code in (202, 400, 413), (response.status_code, response.text[:300])
    assert set(response.json()).issuperset({"id"} if response.status_code == 202 else {"error"})
