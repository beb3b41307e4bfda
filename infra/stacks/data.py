"""The stateful stack: DynamoDB tables, the two secrets and, when the stage turns semantic
caching on, the answer cache's vector bucket. Destroying the service stack never touches
them (tables and secrets: ``RETAIN``, point-in-time recovery, deletion protection in
prod; the vectors are a cache, rebuilt as answers are stored again)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, SecretValue, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_secretsmanager as secretsmanager

from constructs import Construct
from infra.config import StageConfig
from infra.constructs.answer_vectors import AnswerVectors
from orchestra.storage.tables import ALL_TABLES, TableSpec


class DataStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kw: Any):
        super().__init__(scope, construct_id, **kw)
        self.config = config
        self.tables = {spec.key: self._table(spec) for spec in ALL_TABLES}
        #: the semantic cache's vectors, when the stage turns semantic lookups on
        self.vectors = (
            AnswerVectors(self, "AnswerVectors", dimension=config.cache.vector_dimension)
            if config.cache.builds_vectors
            else None
        )
        #: {"OPENAI_API_KEY": "...", "ANTHROPIC_API_KEY": "...", ...} (the vendors' env names)
        self.provider_keys = self._secret(
            "ProviderKeys", "Orchestra provider API keys: a JSON object, env var name -> key"
        )
        #: {"<client name>": "<key>"}: managed with ``orchestra keys create|revoke``
        self.client_keys = self._secret(
            "ClientKeys", "Orchestra client API keys: a JSON object, client name -> key"
        )
        CfnOutput(self, "ProviderKeysSecretArn", value=self.provider_keys.secret_arn)
        CfnOutput(self, "ClientKeysSecretArn", value=self.client_keys.secret_arn)

    def _table(self, spec: TableSpec) -> dynamodb.Table:
        string = dynamodb.AttributeType.STRING
        return dynamodb.Table(
            self,
            f"{spec.key.capitalize()}Table",
            partition_key=dynamodb.Attribute(name=spec.partition_key, type=string),
            sort_key=dynamodb.Attribute(name=spec.sort_key, type=string) if spec.sort_key else None,
            time_to_live_attribute=spec.ttl_attribute,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=self.config.stage == "prod",
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _secret(self, construct_id: str, description: str) -> secretsmanager.Secret:
        return secretsmanager.Secret(
            self,
            construct_id,
            description=description,
            # an empty JSON object: real values are put after deploy, never in the template
            secret_string_value=SecretValue.unsafe_plain_text("{}"),
            removal_policy=RemovalPolicy.RETAIN,
        )
