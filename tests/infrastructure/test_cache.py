"""The answer cache in the stacks: its table (from the core spec, with TTL), who may read
and write it, the stage's cache defaults, and the S3 Vectors store when semantic is on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from infra.config import load_stage
from infra.constructs.function import ENVIRONMENT_LIMIT, TOKEN_ESTIMATE
from infra.stacks.service import PROVIDERS_JSON_LIMIT

from orchestra.config import Settings
from orchestra.storage.tables import CACHE_TABLE

from support.cdk_synth import ROOT, Synth, as_list, of_type, role_policy, statements

pytestmark = pytest.mark.slow

SEMANTIC = {
    "cache": {
        "ttl_s": 600,
        "namespace": "team",
        "semantic": True,
        "semantic_threshold": 0.96,
        "embedding_model": "bedrock/amazon.titan-embed-text-v2",
        "vector_dimension": 512,
    }
}
VECTOR_ACTIONS = {
    "s3vectors:PutVectors",
    "s3vectors:QueryVectors",
    "s3vectors:GetVectors",
    "s3vectors:DeleteVectors",
}


def _env(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = of_type(template, "AWS::Lambda::Function").values()
    return {
        f["Properties"]["Handler"].split(".")[1]: f["Properties"]["Environment"]["Variables"]
        for f in found
    }


def _actions_on(granted: list[dict[str, Any]], resource: str) -> set[str]:
    return {
        action
        for statement in granted
        if resource in json.dumps(statement["Resource"])
        for action in as_list(statement["Action"])
    }


def _stacks(tmp_path: Path, overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Both dev stacks with ``overrides``, synthesized with cdk-nag on."""
    import aws_cdk as cdk
    from aws_cdk.assertions import Template
    from cdk_nag import AwsSolutionsChecks
    from infra.app import build

    app = cdk.App(context={"aws:cdk:bundling-stacks": []}, outdir=str(tmp_path / "out"))
    env = cdk.Environment(account="123456789012", region="eu-west-1")
    stacks = build(app, load_stage("dev", overrides), env)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))  # type: ignore[attr-defined]
    app.synth()  # raises on an unacknowledged cdk-nag finding
    return {kind: Template.from_stack(stack).to_json() for kind, stack in stacks.items()}


@pytest.fixture(scope="module")
def semantic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cdk-semantic")


@pytest.fixture(scope="module")
def semantic(semantic_dir: Path) -> dict[str, dict[str, Any]]:
    return _stacks(semantic_dir, SEMANTIC)


def test_the_cache_table_comes_from_its_spec_with_its_ttl(dev: Synth, prod: Synth) -> None:
    for synthesized in (dev, prod):
        tables = of_type(synthesized.json("data"), "AWS::DynamoDB::Table")
        (table,) = [t for name, t in tables.items() if name.startswith("CacheTable")]
        props = table["Properties"]
        assert props["KeySchema"] == CACHE_TABLE.key_schema()
        assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
        assert props["BillingMode"] == "PAY_PER_REQUEST"


def test_the_generate_function_alone_reads_and_writes_the_cache(dev: Synth) -> None:
    template = dev.json("service")
    env = _env(template)
    assert {name for name, v in env.items() if CACHE_TABLE.env_var in v} == {"generate"}
    assert "CacheTable" in json.dumps(env["generate"][CACHE_TABLE.env_var])
    granted = role_policy(template, "GenerateRole")
    # one GetItem per lookup, one PutItem per answer: no Scan, Query, Update or Delete
    assert _actions_on(granted, "CacheTable") == {"dynamodb:GetItem", "dynamodb:PutItem"}
    for name, statement in statements(template):
        if "CacheTable" in json.dumps(statement["Resource"]):
            assert name.startswith("GenerateRole"), name


def test_without_semantic_there_is_no_vector_store(dev: Synth, prod: Synth) -> None:
    for synthesized in (dev, prod):
        for which in ("data", "service"):
            template = synthesized.json(which)
            assert not {r["Type"] for r in template["Resources"].values()} & {
                "AWS::S3Vectors::VectorBucket",
                "AWS::S3Vectors::Index",
            }
            assert "s3vectors" not in json.dumps(template)
        # and no cache default is shipped: the application's (off unless asked) hold
        env = _env(synthesized.json("service"))["generate"]
        assert not {k for k in env if k.startswith("ORCHESTRA_CACHE_")} - {CACHE_TABLE.env_var}


def test_semantic_builds_a_cosine_float32_index_of_the_stage_dimension(
    semantic: dict[str, dict[str, Any]],
) -> None:
    data = semantic["data"]
    (bucket,) = of_type(data, "AWS::S3Vectors::VectorBucket").values()
    assert bucket["Properties"]["EncryptionConfiguration"] == {"SseType": "AES256"}
    (index,) = of_type(data, "AWS::S3Vectors::Index").values()
    props = index["Properties"]
    assert (props["DataType"], props["DistanceMetric"], props["Dimension"]) == (
        "float32",
        "cosine",
        512,
    )
    assert "VectorBucketArn" in json.dumps(props["VectorBucketArn"])
    # every metadata key stays filterable: the query filters on "scope"
    assert "MetadataConfiguration" not in props


def test_semantic_ships_the_vector_store_and_defaults_to_the_generate_function(
    semantic: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _env(semantic["service"])
    with_vectors = {n for n, v in env.items() if "ORCHESTRA_CACHE_VECTOR_INDEX" in v}
    assert with_vectors == {"generate"}
    variables = env["generate"]
    for name in ("ORCHESTRA_CACHE_VECTOR_BUCKET", "ORCHESTRA_CACHE_VECTOR_INDEX"):
        assert "Fn::Select" in json.dumps(variables[name])  # parts of the index's ARN
    assert variables["ORCHESTRA_CACHE_TTL_S"] == "600"
    assert variables["ORCHESTRA_CACHE_SEMANTIC"] == "true"
    # And the application reads the literal ones as the values configured
    for variable, value in variables.items():
        if isinstance(value, str) and variable.startswith("ORCHESTRA_CACHE_"):
            monkeypatch.setenv(variable, value)
    settings = Settings()
    assert (settings.cache_ttl_s, settings.cache_namespace) == (600, "team")
    assert settings.cache_semantic is True and settings.cache_semantic_threshold == 0.96
    assert settings.cache_embedding_model == "bedrock/amazon.titan-embed-text-v2"


def test_semantic_grants_exactly_the_vector_operations_on_that_index(
    semantic: dict[str, dict[str, Any]],
) -> None:
    service = semantic["service"]
    granting = []
    for name, statement in statements(service):
        actions = set(as_list(statement["Action"]))
        if any(a.startswith("s3vectors:") for a in actions):
            granting.append(name)
            assert actions == VECTOR_ACTIONS
            resource = json.dumps(statement["Resource"])
            assert "AnswerVectorsIndex" in resource and "*" not in resource
    assert [name.split("Role")[0] for name in granting] == ["Generate"]


def test_the_semantic_stacks_are_cdk_nag_and_cfn_lint_clean(
    semantic: dict[str, dict[str, Any]], semantic_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml
    from cfnlint.api import ManualArgs, lint

    outdir = semantic_dir / "out"
    report = json.loads((outdir / "validation-report.json").read_text())
    for plugin in report["pluginReports"]:
        assert plugin["violations"] == [] and plugin["conclusion"] == "success"
    ignore = yaml.safe_load((ROOT / ".cfnlintrc.yaml").read_text())["ignore_checks"]
    monkeypatch.chdir(outdir)
    templates = sorted(outdir.glob("*.template.json"))
    assert len(templates) == 2
    for template in templates:
        config = ManualArgs(ignore_checks=ignore, regions=["eu-west-1"])
        matches = list(lint(template.read_text(), config=config))
        assert matches == [], (template.name, [str(m) for m in matches])


def test_a_vector_store_without_semantic_defaults_for_keys_to_opt_in(tmp_path: Path) -> None:
    overrides = {"cache": {"vector_store": True, "embedding_model": "openai/te3-small"}}
    stacks = _stacks(tmp_path, overrides)
    assert of_type(stacks["data"], "AWS::S3Vectors::Index")
    env = _env(stacks["service"])["generate"]
    assert "ORCHESTRA_CACHE_SEMANTIC" not in env and "ORCHESTRA_CACHE_VECTOR_INDEX" in env


@pytest.mark.parametrize(
    ("cache", "message"),
    [
        ({"semantic": True}, "embedding_model"),
        ({"semantic": True, "embedding_model": "auto"}, "embedding_model"),
        ({"vector_dimension": 5000}, "vector_dimension"),
        ({"namespace": "world"}, "namespace"),
        ({"ttl_s": 40 * 86_400}, "ttl_s"),
        ({"semantic_threshold": 0.2}, "semantic_threshold"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_inconsistent_cache_settings_stop_the_synth(cache: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_stage("dev", {"cache": cache})


def test_every_cache_default_is_a_setting_of_the_application() -> None:
    from infra.config import CacheDefaults

    infra_only = {"vector_store", "vector_dimension"}
    names = {f"cache_{field}" for field in set(CacheDefaults.model_fields) - infra_only}
    assert names <= set(Settings.model_fields)


def test_the_cache_table_leaves_the_largest_providers_file_room(dev: Synth) -> None:
    # Given the generate function's environment on a stage with no optional knob
    size = _size(_env(dev.json("service"))["generate"])
    # Then a providers file at its own limit still fits beside it
    assert size + PROVIDERS_JSON_LIMIT <= ENVIRONMENT_LIMIT, size


def test_every_cache_default_and_the_vector_store_leave_2_kb(tmp_path: Path) -> None:
    everything = {
        **SEMANTIC["cache"],
        "sampled": True,
        "allow_stale": True,
        "stale_keep_s": 604_800,
        "memory_bytes": 67_108_864,
    }
    env = _env(_stacks(tmp_path, {"cache": everything})["service"])["generate"]
    assert _size(env) <= ENVIRONMENT_LIMIT - 2048, _size(env)


def _size(env: dict[str, Any]) -> int:
    """Lambda's count, a value known at deploy at its estimate (as the synth's check)."""
    return sum(len(k) + (len(v) if isinstance(v, str) else TOKEN_ESTIMATE) for k, v in env.items())
