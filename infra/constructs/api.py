"""The REST API: routes to the functions, the client-key authorizers, usage plans, logging.

The routes of the streaming functions (on ``generate``: chat completions, Anthropic
Messages, Responses, Gemini generateContent/streamGenerateContent, embeddings, models,
health; multi-generate) use ``responseTransferMode: STREAM`` (Lambda's
InvokeWithResponseStream) with an integration timeout of the stage's ``request_timeout_s``:
every route of a streaming function streams, whether its answer is a stream or not. The
debate and admin APIs stay buffered.

Keys, and the two authorizers (one Lambda, ``aws_lambda/authorizer.py``). OpenAI clients send
``Authorization: Bearer <key>``; the Anthropic SDK sends ``x-api-key`` (Claude Code either
that or a Bearer token); google-genai sends ``x-goog-api-key`` and Gemini REST ``?key=``. An
authorizer's identity sources are all required ("all of"), so no one identity source admits
"any of" these; hence, per route:

- the OpenAI-format routes (``Route.any_key`` false) keep a TOKEN authorizer on the
  ``Authorization`` header with a ``Bearer`` pattern, cached for ``authorizer_cache_s``: a
  client's requests cost one authorizer call per key per cache period, and a request with no
  Bearer key is refused by API Gateway without an invocation;
- the Anthropic and Gemini routes (``any_key``) use a REQUEST authorizer with no identity
  source, which API Gateway allows only uncached: every request on them invokes the
  authorizer (a warm call adds a few ms to a request whose model answers in seconds, and
  about one Lambda request charge per client request). Caching it would need one identity
  source every client sends, which these clients do not share.

Both return the key as the usage identifier (``apiKeySource: AUTHORIZER``), so each client key
is throttled and given a quota by its usage plan whichever way it was sent.

API Gateway's own errors (throttling, a missing or refused key, ``infra/gateway_responses.py``)
answer in OpenAI's error shape on every path, Anthropic's and Gemini's included: gateway
responses are set per API, not per path or method, so an Anthropic or Gemini client sees an
OpenAI-shaped body (with the right status) for a refusal made before any Lambda runs. The
errors the app itself raises are in each format's own shape.
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
    #: the key may come as ``x-api-key``, ``x-goog-api-key`` or ``?key=`` too (REQUEST
    #: authorizer, uncached), not only as ``Authorization: Bearer`` (TOKEN authorizer, cached)
    any_key: bool = False


ROUTES: tuple[Route, ...] = (
    Route("POST", "/v1/chat/completions", "generate"),
    Route("POST", "/v1/messages", "generate", any_key=True),
    Route("POST", "/v1/messages/count_tokens", "generate", any_key=True),
    Route("POST", "/v1/responses", "generate"),
    Route("GET", "/v1/responses/{response_id}", "generate"),
    # Gemini's "<model>:generateContent" / ":streamGenerateContent"; a catalog id has slashes
    # (models/openai/gpt-4o:generateContent), and google-genai may call v1 or v1beta
    Route("POST", "/v1beta/models/{proxy+}", "generate", any_key=True),
    Route("POST", "/v1/models/{proxy+}", "generate", any_key=True),
    Route("POST", "/v1/embeddings", "generate"),
    Route("GET", "/v1/models", "generate"),
    Route("GET", "/v1/models/{proxy+}", "generate"),
    Route("POST", "/v1/multi-generate", "multi_generate"),
    Route("POST", "/v1/debates", "debate_api"),
    Route("GET", "/v1/debates/{debate_id}", "debate_api"),
    # keys and teams (/v1/admin/keys, /v1/admin/teams/{id}, ...): the app checks that the
    # key is an admin's; spend: an admin's of every key, a client's of its own
    Route("ANY", "/v1/admin/{proxy+}", "admin"),
    Route("GET", "/v1/spend", "admin"),
    Route("GET", "/health", "generate", public=True),
    # workflows (docs/workflows.md): chains, and OpenAI Files and Batches
    Route("GET", "/v1/chains", "workflows_api"),
    Route("PUT", "/v1/chains/{name}", "workflows_api"),
    Route("GET", "/v1/chains/{name}", "workflows_api"),
    Route("POST", "/v1/chains/{name}/runs", "workflows_api"),
    Route("POST", "/v1/chains/runs", "workflows_api"),
    Route("GET", "/v1/chains/runs/{run_id}", "workflows_api"),
    Route("POST", "/v1/files", "workflows_api"),
    Route("GET", "/v1/files", "workflows_api"),
    Route("GET", "/v1/files/{file_id}", "workflows_api"),
    Route("DELETE", "/v1/files/{file_id}", "workflows_api"),
    Route("GET", "/v1/files/{file_id}/content", "workflows_api"),
    Route("POST", "/v1/batches", "workflows_api"),
    Route("GET", "/v1/batches", "workflows_api"),
    Route("GET", "/v1/batches/{batch_id}", "workflows_api"),
    Route("POST", "/v1/batches/{batch_id}/cancel", "workflows_api"),
)
#: request bodies API Gateway hands to Lambda base64-encoded, byte for byte: a multipart
#: upload (``POST /v1/files``) may hold any bytes; Mangum decodes it. Responses are text
#: (JSON, and file content as ``application/jsonl``), so no response type is listed
BINARY_MEDIA_TYPES = ("multipart/form-data",)

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
            binary_media_types=list(BINARY_MEDIA_TYPES),
        )
        self.authorizer, self.any_key_authorizer = self._authorizers(authorizer)
        self.validator = self.api.add_request_validator(
            "Parameters", validate_request_parameters=True, validate_request_body=True
        )
        for route in ROUTES:
            self._add_route(route, targets[route.function])
        self._gateway_responses()
        self.usage_plans = {plan.name: self._usage_plan(plan) for plan in config.usage_plans}
        self.web_acl = self._web_acl() if config.waf else None
        CfnOutput(self, "Endpoint", value=self.api.url, description="OpenAI base URL: <this>v1")

    def _authorizers(
        self, handler: lambda_.IFunction
    ) -> tuple[apigw.TokenAuthorizer, apigw.RequestAuthorizer]:
        """The cached Bearer one, and the uncached any-key one (see the module docstring)."""
        bearer = apigw.TokenAuthorizer(
            self,
            "BearerKey",
            handler=handler,
            identity_source=apigw.IdentitySource.header("Authorization"),
            validation_regex=BEARER,
            results_cache_ttl=Duration.seconds(self.config.authorizer_cache_s),
        )
        # no identity source ("any of" the four places a key may be), so no caching
        any_key = apigw.RequestAuthorizer(
            self,
            "AnyClientKey",
            handler=handler,
            identity_sources=[],
            results_cache_ttl=Duration.seconds(0),
        )
        # CDK writes IdentitySource "" for no source: leave the property out, as the API does
        cfn = any_key.node.default_child
        assert isinstance(cfn, apigw.CfnAuthorizer)
        cfn.add_property_deletion_override("IdentitySource")
        return bearer, any_key

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
            "authorizer": self.any_key_authorizer if route.any_key else self.authorizer,
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
            name=self.config.usage_plan_name(plan.name),
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
