"""The batch state machine (Standard): Prepare -> a Distributed Map over the chunk manifest
in the files bucket (each chunk a child execution) -> Finalize, from the one definition in
``orchestra.batch.machine``."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3

from constructs import Construct
from infra.config import StageConfig
from infra.constructs.state_machine import machine_name, standard_machine
from orchestra.batch.machine import BATCHES_PREFIX, BUCKET, STEPS_ARN, definition


class BatchMachine(Construct):
    """The machine's role may invoke ``batch_steps``, read the manifests under
    ``batches/`` (the Map's ItemReader), and run its own Distributed Map: StartExecution
    on itself, Describe/StopExecution on its child executions (``<name>/<map run>:<id>``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        steps: lambda_.IFunction,
        bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        body = definition(
            chunk_timeout_s=config.function_timeout_s("batch_steps"),
            max_concurrency=config.batch_concurrency,
            distributed=True,
        )
        self.state_machine, self.log_group = standard_machine(
            self,
            config=config,
            name="batch",
            body=body,
            substitutions={STEPS_ARN: steps.function_arn, BUCKET: bucket.bucket_name},
            # OpenAI's completion window is 24 h: a batch never outlives it
            timeout=Duration.hours(24),
        )
        steps.grant_invoke(self.state_machine)
        self._grant_map(config, bucket)

    def _grant_map(self, config: StageConfig, bucket: s3.IBucket) -> None:
        """As AWS documents the Distributed Map's least privileges
        (https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html:
        StartExecution on ``stateMachine:<name>``, Describe/StopExecution on
        ``execution:<name>/*``) and its ItemReader's (s3:GetObject on the object a JSONL
        reader reads, https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itemreader.html),
        scoped to the manifests under ``batches/``. No ResultWriter: no s3:PutObject."""
        name = machine_name(config, "batch")
        stack = Stack.of(self)
        itself = stack.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        children = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{name}/*:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        role = self.state_machine.role
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["states:StartExecution"], resources=[itself])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution", "states:StopExecution"],
                resources=[children],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{BATCHES_PREFIX}*")]
            )
        )
