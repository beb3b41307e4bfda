"""orchestra.yaml's ``deployments``: what is refused, and how the error names the place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestra.catalog.deployments import Deployments
from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.compose import build_services
from orchestra.config import Settings
from orchestra.errors import InvalidRequest
from orchestra.providers.registry import load_config_file

PROVIDER = {
    "name": "alpha",
    "type": "openai",
    "base_url": "http://127.0.0.1:9/v1",
    "api_key_env": "ALPHA_KEY",
    "models": [{"id": "m1", "context_window": 8000}],
}


def _file(tmp_path: Path, deployments: object) -> Path:
    path = tmp_path / "orchestra.yaml"
    path.write_text(json.dumps({"providers": [PROVIDER], "deployments": deployments}))
    return path


def test_a_valid_file_is_read(tmp_path):
    file = load_config_file(
        _file(tmp_path, {"m1": {"strategy": "weighted", "targets": [{"provider": "alpha"}]}})
    )
    entry = file.deployments["m1"]
    assert entry.strategy == "weighted" and entry.targets[0].weight == 1.0
    assert entry.targets[0].continue_streams and entry.targets[0].hedge


@pytest.mark.parametrize(
    ("deployments", "says"),
    [
        ({"m1": {"targets": [{"provider": "alpha", "colour": "red"}]}}, "deployments.m1.targets.0.colour"),
        ({"m1": {"targets": [{"provider": "alpha", "weight": 0}]}}, "deployments.m1.targets.0.weight"),
        ({"m1": {"targets": [{"provider": "alpha", "first_token_s": -1}]}}, "first_token_s"),
        ({"m1": {"targets": [{"upstream_model": "x"}]}}, "deployments.m1.targets.0.provider"),
        ({"m1": {"targets": []}}, "deployments.m1.targets"),
        ({"m1": {"strategy": "fastest", "targets": [{"provider": "alpha"}]}}, "deployments.m1.strategy"),
        ({"m1": {"targets": [{"provider": "alpha"}], "retries": 3}}, "deployments.m1.retries"),
    ],
)  # fmt: skip
def test_bad_entries_are_refused_naming_the_path(tmp_path, deployments, says):
    with pytest.raises(InvalidRequest) as caught:
        load_config_file(_file(tmp_path, deployments))
    assert says in caught.value.message


def _catalog() -> Catalog:
    fields = {"context_window": 8000, "input_price": 0, "output_price": 0, "quality": 1200}
    return Catalog([ModelInfo(id="alpha/m1", **fields)])


def test_a_group_must_name_a_catalog_model():
    deployments = load_from({"nope": {"targets": [{"provider": "alpha"}]}})
    with pytest.raises(InvalidRequest, match=r"deployments\.nope: no catalog model is named"):
        deployments.check(_catalog(), {"alpha"})


def test_a_target_must_name_a_configured_provider():
    deployments = load_from({"m1": {"targets": [{"provider": "alpha"}, {"provider": "beta"}]}})
    with pytest.raises(InvalidRequest, match=r"deployments\.m1\.targets\[1\]\.provider: 'beta'"):
        deployments.check(_catalog(), {"alpha"})


def test_start_up_refuses_a_bad_deployments_section(tmp_path):
    path = _file(tmp_path, {"m1": {"targets": [{"provider": "beta"}]}})
    with pytest.raises(InvalidRequest, match="not a configured provider"):
        build_services(Settings(config=str(path)), {"ALPHA_KEY": "sk-a"})


async def test_start_up_builds_the_table_and_the_balancer(tmp_path):
    path = _file(tmp_path, {"m1": {"strategy": "round_robin", "targets": [{"provider": "alpha"}]}})
    services = build_services(
        Settings(config=str(path), lb_strategy="weighted"), {"ALPHA_KEY": "k"}
    )
    gateway = services.gateway
    assert gateway is not None
    assert gateway.balancer.default == "weighted"
    assert gateway.router.deployments.entries["m1"].strategy == "round_robin"
    await services.aclose()


def load_from(raw: dict) -> Deployments:
    from orchestra.providers.registry import ConfigFile

    return Deployments(ConfigFile.model_validate({"deployments": raw}).deployments)
