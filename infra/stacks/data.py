"""The stateful stack: DynamoDB tables, the two secrets, the files bucket (batch input,
output and error files) and, when the stage turns semantic caching on, the answer cache's
vector bucket. Destroying the service stack never touches
them (tables and secrets: ``RETAIN``, point-in-time recovery, deletion protection in
prod; the vectors are a cache, rebuilt as answers are stored again)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, SecretValue, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager

from constructs import Construct
from infra.config import StageConfig
from infra.constructs.answer_vectors import AnswerVectors
from orchestra.batch.machine import BATCHES_PREFIX, FILES_PREFIX
from orchestra.storage.tables import ALL_TABLES, TableSpec


class DataStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kw: Any):
        super().__init__(scope, construct_id, **kw)
        # the files bucket's access logs delivered under a bucket policy, not an ACL
        self.node.set_context("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", True)
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
        #: server access logs of the files bucket (who read or wrote which file)
        self.access_logs = self._bucket("AccessLogs", expire=("",))
        #: uploaded files (``files/``) and batches' manifests, parts and results (``batches/``)
        self.files_bucket = self._bucket(
            "Files", expire=(FILES_PREFIX, BATCHES_PREFIX), logs=self.access_logs
        )
        #: exported under fixed names: the service stack imports them (``files_bucket_import``)
        CfnOutput(
            self,
            "FilesBucketName",
            value=self.files_bucket.bucket_name,
            export_name=self.files_export("Name"),
        )
        CfnOutput(
            self,
            "FilesBucketArn",
            value=self.files_bucket.bucket_arn,
            export_name=self.files_export("Arn"),
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

    def files_export(self, attribute: str) -> str:
        """The export name of the files bucket's ``Name`` or ``Arn``: fixed, so the service
        stack's policies (and their cdk-nag acknowledgements) name it exactly."""
        return f"{self.stack_name}-FilesBucket{attribute}"

    def _bucket(
        self, construct_id: str, *, expire: tuple[str, ...], logs: s3.IBucket | None = None
    ) -> s3.Bucket:
        """Private (all public access blocked, TLS only), SSE-S3 encrypted (Step Functions'
        ItemReader and the functions read it with no KMS grant), unversioned (a batch's
        files are written once; a deleted file must be gone), and emptied by lifecycle
        rules: objects under ``expire`` after the stage's retention, incomplete multipart
        uploads (a batch's ``concat`` cut short) after a day."""
        days = Duration.days(self.config.files_retention_days)
        rules = [
            s3.LifecycleRule(
                id="AbortIncompleteUploads",
                abort_incomplete_multipart_upload_after=Duration.days(1),
            )
        ]
        rules += [
            s3.LifecycleRule(
                id=f"Expire{prefix.strip('/').title() or 'All'}",
                prefix=prefix or None,
                expiration=days,
            )
            for prefix in expire
        ]
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=False,
            # logs delivered under a bucket policy, not an ACL (cfn-lint W3045)
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=logs,
            server_access_logs_prefix="files-bucket/" if logs else None,
            lifecycle_rules=rules,
            removal_policy=RemovalPolicy.RETAIN,
        )
