"""DynamoDB table definitions, defined once.

The CDK stacks build their tables from these specs and the local/test set-up creates the
same tables with :func:`create_tables`, so key schemas, TTL attribute names and the env var
that carries each physical table name cannot drift apart. Every key attribute is a string.

No boto3 import here: the client is injected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass(frozen=True)
class TableSpec:
    """One table: logical key, key schema (string attributes), TTL attribute, env var."""

    #: logical name used in code and in ``create_tables(names=...)``
    key: str
    partition_key: str
    sort_key: str | None
    ttl_attribute: str | None
    #: env var through which the deployed function learns the physical table name
    env_var: str

    def key_schema(self) -> list[dict[str, str]]:
        """``KeySchema`` as the DynamoDB API expects it."""
        schema = [{"AttributeName": self.partition_key, "KeyType": "HASH"}]
        if self.sort_key is not None:
            schema.append({"AttributeName": self.sort_key, "KeyType": "RANGE"})
        return schema

    def attribute_definitions(self) -> list[dict[str, str]]:
        """``AttributeDefinitions`` for the key attributes (all strings)."""
        return [
            {"AttributeName": item["AttributeName"], "AttributeType": "S"}
            for item in self.key_schema()
        ]


MODELS_TABLE = TableSpec(
    key="models",
    partition_key="model_id",
    sort_key=None,
    ttl_attribute=None,
    env_var="ORCHESTRA_MODELS_TABLE",
)
BREAKERS_TABLE = TableSpec(
    key="breakers",
    partition_key="model_id",
    sort_key=None,
    ttl_attribute=None,
    env_var="ORCHESTRA_BREAKERS_TABLE",
)
#: pk = model id, sk = time bucket string (sortable, see ``storage.metrics.bucket_key``)
METRICS_TABLE = TableSpec(
    key="metrics",
    partition_key="pk",
    sort_key="sk",
    ttl_attribute="expires_at",
    env_var="ORCHESTRA_METRICS_TABLE",
)
#: pk = debate id, sk = header or turn key
DEBATES_TABLE = TableSpec(
    key="debates",
    partition_key="pk",
    sort_key="sk",
    ttl_attribute="expires_at",
    env_var="ORCHESTRA_DEBATES_TABLE",
)

#: pk = response id (``resp_...``): OpenAI Responses answers kept for ``previous_response_id``
RESPONSES_TABLE = TableSpec(
    key="responses",
    partition_key="pk",
    sort_key=None,
    ttl_attribute="expires_at",
    env_var="ORCHESTRA_RESPONSES_TABLE",
)

#: governance (issue 18): key and team policies (pk = ``key#<id>`` / ``team#<id>``,
#: sk = ``policy``) and their ledgers (budget and rate counters, live holds; sk = ``ledger``)
GOVERNANCE_TABLE = TableSpec(
    key="governance",
    partition_key="pk",
    sort_key="sk",
    ttl_attribute="expires_at",
    env_var="ORCHESTRA_GOVERNANCE_TABLE",
)

#: answers from cache (issue 19): pk = ``<namespace>:<request hash>`` (``cache/keys.py``);
#: ``expires_at`` is the answer's freshness plus how long a stale answer is kept
CACHE_TABLE = TableSpec(
    key="cache",
    partition_key="pk",
    sort_key=None,
    ttl_attribute="expires_at",
    env_var="ORCHESTRA_CACHE_TABLE",
)

#: workflows (issue 20): chain definitions (pk = ``chain#<name>``, sk = ``v#<000001>``), chain
#: runs (pk = ``chainrun#<id>``), files and batches (pk = ``file#<id>`` / ``batch#<id>``), and
#: their listings (pk = ``files#<owner>`` / ``batches#<owner>``, sk = created time and id)
WORKFLOWS_TABLE = TableSpec(
    key="workflows",
    partition_key="pk",
    sort_key="sk",
    ttl_attribute="expires_at",
    env_var="ORCHESTRA_WORKFLOWS_TABLE",
)

ALL_TABLES: tuple[TableSpec, ...] = (
    MODELS_TABLE,
    BREAKERS_TABLE,
    METRICS_TABLE,
    DEBATES_TABLE,
    RESPONSES_TABLE,
    GOVERNANCE_TABLE,
    CACHE_TABLE,
    WORKFLOWS_TABLE,
)


def create_tables(client: DynamoDBClient, names: Mapping[str, str]) -> None:
    """Create on-demand tables (TTL enabled where the spec has one) for moto or local use.

    ``names`` maps ``TableSpec.key`` to the physical table name; only those tables are
    created. An unknown key raises ``KeyError`` rather than being silently ignored.
    """
    specs = {spec.key: spec for spec in ALL_TABLES}
    unknown = sorted(set(names) - set(specs))
    if unknown:
        raise KeyError(f"unknown table keys: {unknown}")
    for key, table_name in names.items():
        _create_table(client, specs[key], table_name)


def _create_table(client: DynamoDBClient, spec: TableSpec, table_name: str) -> None:
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "KeySchema": spec.key_schema(),
        "AttributeDefinitions": spec.attribute_definitions(),
        "BillingMode": "PAY_PER_REQUEST",
    }
    client.create_table(**kwargs)
    client.get_waiter("table_exists").wait(TableName=table_name)
    if spec.ttl_attribute is not None:
        client.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
        )
