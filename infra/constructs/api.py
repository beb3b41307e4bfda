"""The REST API: routes to the functions, the Bearer-key authorizer, usage plans, logging.

The routes of the streaming functions (chat completions, models, health on ``generate``;
multi-generate) use ``responseTransferMode: STREAM`` (Lambda's InvokeWithResponseStream) with
an integration timeout of the stage's ``request_timeout_s``; the debate API stays buffered.

Clients send ``Authorization: Bearer <key>`` (the OpenAI SDK does, unchanged). A TOKEN
authorizer checks the key against the client-keys secret and returns it as the usage
identifier (``apiKeySource: AUTHORIZER``), so each client key is throttled and given a quota
by its usage plan. API Gateway's own errors answer in OpenAI's error shape.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from aws_cdk import CfnOutput, Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2

from constructs import Construct
from infra.config import StageConfig, UsagePlan
from infra.constructs.function import retention
from infra.gateway_responses import GATEWAY_RESPONSES


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    public: bool = False


ROUTES: tuple[Route, ...] = (
    Route("POST", "/v1/chat/completions", "generate"),
    Route("GET", "/v1/models", "generate"),
    Route("GET", "/v1/models/{proxy+}", "generate"),
    Route("POST", "/v1/multi-generate", "multi_generate"),
    Route("POST", "/v1/debates", "debate_api"),
    Route("GET", "/v1/debates/{debate_id}", "debate_api"),
    Route("GET", "/health", "generate", public=True),
)

#: one JSON line per request; no header or body is logged (keys never reach the logs)
ACCESS_LOG = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "client": "$context.authorizer.principalId",
    "time": "$context.requestTimeEpoch",
    "method": "$context.httpMethod",
    "path": "$context.resourcePath",
    "status": "$context.status",
    "bytes": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "integrationMs": "$context.integration.latency",
    "error": "$context.error.message",
    "authorizerError": "$context.authorizer.error",
    "waf": "$context.waf.status",
}
#: ``Bearer <key>`` (any case); anything else is refused by API Gateway without an invocation
BEARER = r"^[Bb][Ee][Aa][Rr][Ee][Rr] +[\x21-\x7e]+ *$"


class OrchestraApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        targets: Mapping[str, lambda_.IFunction],
        authorizer: lambda_.IFunction,
        streaming: Collection[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.streaming = frozenset(streaming)
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=retention(config.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if config.retain_logs else RemovalPolicy.DESTROY,
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"{config.prefix}-{config.stage}",
            description="Orchestra: OpenAI-compatible multi-LLM gateway",
            api_key_source_type=apigw.ApiKeySourceType.AUTHORIZER,
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=self._stage_options(),
        )
        self.authorizer = apigw.TokenAuthorizer(
            self,
            "BearerKey",
            handler=authorizer,
            identity_source=apigw.IdentitySource.header("Authorization"),
            validation_regex=BEARER,
            results_cache_ttl=Duration.seconds(config.authorizer_cache_s),
        )
        self.validator = self.api.add_request_validator(
            "Parameters", validate_request_parameters=True, validate_request_body=True
        )
        for route in ROUTES:
            self._add_route(route, targets[route.function])
        self._gateway_responses()
        self.usage_plans = {plan.name: self._usage_plan(plan) for plan in config.usage_plans}
        self.web_acl = self._web_acl() if config.waf else None
        CfnOutput(self, "Endpoint", value=self.api.url, description="OpenAI base URL: <this>v1")

    def _stage_options(self) -> apigw.StageOptions:
        return apigw.StageOptions(
            stage_name=self.config.stage,
            access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
            access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG)),
            logging_level=apigw.MethodLoggingLevel.ERROR,
            data_trace_enabled=False,  # would log request bodies and headers
            metrics_enabled=True,
            tracing_enabled=True,
            throttling_rate_limit=self.config.throttle_rate_per_s,
            throttling_burst_limit=self.config.throttle_burst,
        )

    def _resource(self, path: str) -> apigw.IResource:
        resource = self.api.root
        for part in path.strip("/").split("/"):
            resource = resource.get_resource(part) or resource.add_resource(part)
        return resource

    def _integration(self, route: Route, target: lambda_.IFunction) -> apigw.LambdaIntegration:
        if route.function not in self.streaming:
            return apigw.LambdaIntegration(target, proxy=True, allow_test_invoke=False)
        return apigw.LambdaIntegration(
            target,
            proxy=True,
            allow_test_invoke=False,
            response_transfer_mode=apigw.ResponseTransferMode.STREAM,
            timeout=Duration.seconds(self.config.request_timeout_s),
        )

    def _add_route(self, route: Route, target: lambda_.IFunction) -> None:
        integration = self._integration(route, target)
        secured = {
            "authorizer": self.authorizer,
            "authorization_type": apigw.AuthorizationType.CUSTOM,
            "api_key_required": True,
        }
        self._resource(route.path).add_method(
            route.method,
            integration,
            request_validator=self.validator,
            **({"authorization_type": apigw.AuthorizationType.NONE} if route.public else secured),
        )

    def _gateway_responses(self) -> None:
        for name, answer in GATEWAY_RESPONSES.items():
            headers = {"Content-Type": "'application/json'"}
            if answer.retry_after is not None:
                headers["Retry-After"] = f"'{answer.retry_after}'"
            self.api.add_gateway_response(
                f"Response{name.title().replace('_', '')}",
                type=apigw.ResponseType.of(name),
                status_code=str(answer.status) if answer.status is not None else None,
                response_headers=headers,
                templates={"application/json": answer.template()},
            )

    def _usage_plan(self, plan: UsagePlan) -> apigw.UsagePlan:
        quota = (
            apigw.QuotaSettings(limit=plan.requests_per_day, period=apigw.Period.DAY)
            if plan.requests_per_day
            else None
        )
        usage_plan = self.api.add_usage_plan(
            f"Plan{plan.name.title()}",
            name=f"{self.config.prefix}-{self.config.stage}-{plan.name}",
            throttle=apigw.ThrottleSettings(rate_limit=plan.rate_per_s, burst_limit=plan.burst),
            quota=quota,
            api_stages=[apigw.UsagePlanPerApiStage(api=self.api, stage=self.api.deployment_stage)],
        )
        CfnOutput(
            self,
            f"UsagePlan{plan.name.title()}Id",
            value=usage_plan.usage_plan_id,
            description=f"usage plan '{plan.name}': orchestra keys create --usage-plan-id",
        )
        return usage_plan

    def _web_acl(self) -> wafv2.CfnWebACL:
        """AWS common and known-bad-input rules, and a per-IP rate limit, on the stage."""
        rules = [
            _managed_rule(
                "AWSManagedRulesCommonRuleSet",
                0,
                # prompts are routinely larger than the 8 KB body this rule blocks
                overrides=["SizeRestrictions_BODY"],
            ),
            _managed_rule("AWSManagedRulesKnownBadInputsRuleSet", 1),
            wafv2.CfnWebACL.RuleProperty(
                name="RatePerIp",
                priority=2,
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        limit=self.config.waf_requests_per_5min_per_ip, aggregate_key_type="IP"
                    )
                ),
                visibility_config=_visibility("RatePerIp"),
            ),
        ]
        acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility("OrchestraWaf"),
            rules=rules,
        )
        wafv2.CfnWebACLAssociation(
            self,
            "WebAclAssociation",
            resource_arn=self.api.deployment_stage.stage_arn,
            web_acl_arn=acl.attr_arn,
        )
        return acl


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


def _managed_rule(
    name: str, priority: int, overrides: list[str] | None = None
) -> wafv2.CfnWebACL.RuleProperty:
    count = wafv2.CfnWebACL.RuleActionProperty(count={})
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name="AWS",
                name=name,
                rule_action_overrides=[
                    wafv2.CfnWebACL.RuleActionOverrideProperty(name=rule, action_to_use=count)
                    for rule in overrides or []
                ],
            )
        ),
        visibility_config=_visibility(name),
    )
