"""cdk-nag acknowledgements: every finding we accept, where it arises, with its reason.

Each acknowledgement names one exact finding (cdk-nag 3 ids such as
``AwsSolutions-IAM5[Resource::*]``) on the smallest construct that raises it, so a new
wildcard elsewhere still fails the synth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, CfnElement, Stack, Token, Validations

from constructs import IConstruct
from infra.stacks.workflows import BATCH_OUTPUT_FILES

if TYPE_CHECKING:
    from infra.stacks.data import DataStack
    from infra.stacks.service import ServiceStack

XRAY = (
    "X-Ray's PutTraceSegments/PutTelemetryRecords support no resource-level permissions; "
    "the wildcard is AWS's documented form for active tracing."
)
LAMBDA_VERSIONS = (
    "Invoking a published version or alias of this one function: the ':*' suffix covers its "
    "versions only, never another function."
)


def _ack(construct: IConstruct, finding: str, reason: str) -> None:
    Validations.of(construct).acknowledge(
        Acknowledgment(id=f"AwsSolutions::AwsSolutions-{finding}", reason=reason)
    )


def acknowledge_data(stack: DataStack) -> None:
    for secret in (stack.provider_keys, stack.client_keys):
        _ack(
            secret,
            "SMG4",
            "Values are third-party provider keys (rotated at the vendor, then put here) and "
            "client keys (rotated with 'orchestra keys create/revoke'); no Lambda rotator can "
            "mint either.",
        )


def acknowledge_service(stack: ServiceStack) -> None:
    for fn in stack.functions.values():
        _ack(fn.role, "IAM5[Resource::*]", XRAY)
        _ack(
            fn.function,
            "L1",
            f"Pinned to Python {stack.config.python}: the bundle's bytecode and arm64 wheels "
            "are built for exactly this version; moving is one StageConfig.python change.",
        )
    for name in ("generate", "multi_generate", "debate_steps", "chain_steps", "batch_steps"):
        role = stack.functions[name].role
        for resource in (
            "arn:<AWS::Partition>:bedrock:*::foundation-model/*",
            "arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:inference-profile/*",
        ):
            _ack(
                role,
                f"IAM5[Resource::{resource}]",
                "The model is chosen per request by the router among Bedrock models (and "
                "cross-region inference profiles may serve from any region); actions are "
                "limited to InvokeModel and InvokeModelWithResponseStream.",
            )
    region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
    account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
    _ack(
        stack.functions["debate_api"].role,
        f"IAM5[Resource::arn:<AWS::Partition>:states:{region}:{account}:execution:"
        f"<{_logical(stack.debate.state_machine)}.Name>:*]",
        "Executions are named after each debate id at run time; the ARN is limited to the "
        "executions of this one state machine.",
    )
    machine = stack.debate.state_machine
    _ack(machine.role, "IAM5[Resource::*]", XRAY + " Log delivery APIs likewise need '*'.")
    steps = _logical(stack.functions["debate_steps"].function)
    _ack(machine.role, f"IAM5[Resource::<{steps}.Arn>:*]", LAMBDA_VERSIONS)
    sync = _logical(stack.functions["sync"].function)
    _ack(stack, f"IAM5[Resource::<{sync}.Arn>:*]", LAMBDA_VERSIONS)
    _ack(
        stack.key_admin.policy,
        "IAM5[Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::/apikeys/*]",
        "DeleteApiKey on a key revoked through the admin API: API Gateway mints key ids at "
        "creation, so no narrower path exists; the action is limited to DELETE and the "
        "function deletes only the key whose name and value the client-keys secret holds.",
    )
    _acknowledge_api(stack)
    _acknowledge_workflows(stack, region, account)


def _acknowledge_workflows(stack: ServiceStack, region: str, account: str) -> None:
    """The chain and batch machines, and the files bucket's prefixes."""
    fns, api = stack.functions, stack.functions["workflows_api"].role
    for machine, steps in ((stack.chain, "chain_steps"), (stack.batch, "batch_steps")):
        role = machine.state_machine.role
        _ack(role, "IAM5[Resource::*]", XRAY + " Log delivery APIs likewise need '*'.")
        _ack(role, f"IAM5[Resource::<{_logical(fns[steps].function)}.Arn>:*]", LAMBDA_VERSIONS)
    _ack(
        api,
        f"IAM5[Resource::arn:<AWS::Partition>:states:{region}:{account}:execution:"
        f"<{_logical(stack.chain.state_machine)}.Name>:*]",
        "Executions are named after each chain run id at run time; the ARN is limited to "
        "the executions of this one state machine (DescribeExecution only).",
    )
    _ack(
        stack.batch.state_machine.role,
        f"IAM5[Resource::arn:<AWS::Partition>:states:{region}:{account}:execution:"
        f"{stack.config.prefix}-{stack.config.stage}-batch/*:*]",
        "The Distributed Map's child executions (<machine>/<map run>:<id>) are named by Step "
        "Functions at run time; the ARN is limited to this machine's own map runs, as AWS's "
        "Distributed Map policy documents.",
    )
    bucket = stack.data.files_export("Arn")
    prefixes = "files/ (uploads) and batches/ (manifests, parts, output and error files)"
    for role in (api, fns["batch_steps"].role, stack.batch.state_machine.role):
        for prefix in ("files", "batches"):
            _ack(
                role,
                f"IAM5[Resource::{bucket}/{prefix}/*]",
                f"Object keys are file and batch ids minted at run time under {prefixes}; "
                "each role gets only the prefixes and actions it uses.",
            )
    for name in BATCH_OUTPUT_FILES:
        _ack(
            api,
            f"IAM5[Resource::{bucket}/batches/*/{name}]",
            "A batch's output and error files (batches/<batch id>/<name>) may be deleted "
            "through DELETE /v1/files/{id}; batch ids are minted at run time.",
        )


def _acknowledge_api(stack: ServiceStack) -> None:
    http = stack.api
    _ack(
        http.api,
        "COG4",
        "Clients authenticate with their SDK's own key header (OpenAI's Bearer, Anthropic's "
        "x-api-key, Gemini's x-goog-api-key), checked by Lambda authorizers (TOKEN and "
        "REQUEST); Cognito tokens would break every client.",
    )
    _ack(
        http.api,
        "APIG4",
        "Only GET /health is public (uptime checks carry no key): deployed, it answers "
        "{'status': 'ok'} and nothing about providers, models or configuration.",
    )
    _ack(
        http.api,
        "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AmazonAPIGatewayPushToCloudWatchLogs]",
        "API Gateway's account-level logging role: AWS's managed policy is the documented one.",
    )
    _ack(
        stack.schedules.dead_letters,
        "SQS3",
        "This queue is itself the dead-letter queue of the sync schedules.",
    )
    if not stack.config.waf:
        _ack(
            http.api,
            "APIG3",
            "WAF is off for this stage (StageConfig.waf=false, dev): prod turns it on.",
        )


def _logical(construct: IConstruct) -> str:
    child = construct.node.default_child
    assert isinstance(child, CfnElement)
    return str(Stack.of(construct).resolve(child.logical_id))
