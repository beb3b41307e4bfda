"""``OrchestraFunction``: every Lambda function built the same way.

Python (3.12/3.13) on arm64, the one shared bundle (core package + dependencies, compiled
bytecode), its own role (logs to its own log group only: no managed policy), an explicit
log group with retention, X-Ray active tracing, Powertools environment, optional reserved
concurrency and, for the API functions, SnapStart on a published version behind a ``live``
alias (API Gateway and the authorizer invoke the alias, never ``$LATEST``).

A ``streaming`` function runs on the same managed Python runtime with
``AWS_LAMBDA_EXEC_WRAPPER`` pointing at ``functions/stream_runtime``, which starts
Orchestra's streaming Runtime API client (``orchestra.aws_lambda.runtime_api``) in place of the managed
one, so API Gateway's ``responseTransferMode: STREAM`` routes get the answer token by token.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Annotations, Duration, RemovalPolicy, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

from constructs import Construct
from infra.config import StageConfig

#: the bundle's root is /var/task; the wrapper script ships in functions/
STREAM_WRAPPER = "/var/task/functions/stream_runtime"

#: Lambda's limit on one function's environment, keys and values together
ENVIRONMENT_LIMIT = 4096
#: a value known only at deploy (a table name, a secret's ARN), counted at this length: a
#: CloudFormation-generated name is ``<stack>-<logical id>-<12 characters>``, about 60
TOKEN_ESTIMATE = 64

RUNTIMES = {"3.12": lambda_.Runtime.PYTHON_3_12, "3.13": lambda_.Runtime.PYTHON_3_13}


class OrchestraFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        code: lambda_.Code,
        config: StageConfig,
        environment: Mapping[str, str],
        snapstart: bool = False,
        streaming: bool = False,
        description: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        sizing = config.sizing(name)
        service = "orchestra-" + name.replace("_", "-")
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=retention(config.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if config.retain_logs else RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Orchestra {name} function",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        variables = {
            "POWERTOOLS_SERVICE_NAME": service,
            "POWERTOOLS_METRICS_NAMESPACE": "Orchestra",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "POWERTOOLS_DEV": "false",
            "ORCHESTRA_MODE": "aws",
            **({"AWS_LAMBDA_EXEC_WRAPPER": STREAM_WRAPPER} if streaming else {}),
            **environment,
        }
        check_environment(name, variables)
        self.name, self.variables = name, variables
        self.function = lambda_.Function(
            self,
            "Function",
            description=description or f"Orchestra {name}",
            runtime=RUNTIMES[config.python],
            architecture=lambda_.Architecture.ARM_64,
            code=code,
            handler=f"functions.{name}.handler.handler",
            memory_size=sizing.memory_mb,
            timeout=Duration.seconds(config.function_timeout_s(name)),
            reserved_concurrent_executions=sizing.reserved_concurrency,
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if snapstart else None,
            environment=variables,
        )
        if snapstart:
            Annotations.of(self.function).acknowledge_warning(
                "@aws-cdk/aws-lambda:snapStartRequirePublish",
                "the 'live' alias below publishes a version on every change",
            )
        #: what callers invoke: the SnapStart version's alias, or the function itself
        self.target: lambda_.IFunction = (
            lambda_.Alias(self, "Live", alias_name="live", version=self.function.current_version)
            if snapstart
            else self.function
        )

    def add_environment(self, key: str, value: str) -> None:
        """A variable known only once other resources exist (a state machine's ARN),
        counted against the 4 KB like those given at construction."""
        self.variables = {**self.variables, key: value}
        check_environment(self.name, self.variables)
        self.function.add_environment(key, value)


def environment_size(variables: Mapping[str, str]) -> int:
    """The bytes of ``variables`` as Lambda counts them, values resolved only at deploy
    counted at :data:`TOKEN_ESTIMATE`."""
    return sum(
        len(key.encode()) + (TOKEN_ESTIMATE if Token.is_unresolved(value) else len(value.encode()))
        for key, value in variables.items()
    )


def check_environment(name: str, variables: Mapping[str, str]) -> None:
    """Refuse at synth an environment that Lambda would refuse at deploy (the providers
    file, governance defaults and a guardrail share one function's 4 KB)."""
    size = environment_size(variables)
    if size > ENVIRONMENT_LIMIT:
        raise ValueError(
            f"the {name} function's environment is about {size} bytes; Lambda allows "
            f"{ENVIRONMENT_LIMIT}: shorten the providers file or the stage's settings"
        )


RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


def retention(days: int) -> logs.RetentionDays:
    if days not in RETENTION:
        raise ValueError(f"log retention must be one of {sorted(RETENTION)} days, not {days}")
    return RETENTION[days]
