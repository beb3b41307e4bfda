"""The stateful stack: tables from the core specs, retained secrets; a stateless service."""

from __future__ import annotations

import json

import pytest

from orchestra.storage.tables import ALL_TABLES

from support.cdk_synth import Synth, of_type

pytestmark = pytest.mark.slow


def test_tables_are_built_from_the_core_specs(dev: Synth) -> None:
    tables = of_type(dev.json("data"), "AWS::DynamoDB::Table")
    assert len(tables) == len(ALL_TABLES)
    by_schema = {
        json.dumps(t["Properties"]["KeySchema"], sort_keys=True): t for t in tables.values()
    }
    for spec in ALL_TABLES:
        # Given the spec the moto tests also use, When synthesized, Then the same table
        table = by_schema[json.dumps(spec.key_schema(), sort_keys=True)]
        props = table["Properties"]
        assert props["AttributeDefinitions"] == spec.attribute_definitions()
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["DeletionPolicy"] == "Retain"
        ttl = props.get("TimeToLiveSpecification")
        if spec.ttl_attribute:
            assert ttl == {"AttributeName": spec.ttl_attribute, "Enabled": True}
        else:
            assert ttl is None


def test_prod_tables_are_deletion_protected(dev: Synth, prod: Synth) -> None:
    for table in of_type(prod.json("data"), "AWS::DynamoDB::Table").values():
        assert table["Properties"]["DeletionProtectionEnabled"] is True
    for table in of_type(dev.json("data"), "AWS::DynamoDB::Table").values():
        assert table["Properties"]["DeletionProtectionEnabled"] is False


def test_two_retained_secrets_with_no_value_in_the_template(dev: Synth) -> None:
    secrets = of_type(dev.json("data"), "AWS::SecretsManager::Secret")
    assert len(secrets) == 2
    for secret in secrets.values():
        assert secret["DeletionPolicy"] == "Retain"
        assert secret["Properties"]["SecretString"] == "{}"


def test_service_stack_holds_no_state(dev: Synth) -> None:
    kinds = {r["Type"] for r in dev.json("service")["Resources"].values()}
    assert not kinds & {"AWS::DynamoDB::Table", "AWS::SecretsManager::Secret", "AWS::S3::Bucket"}
