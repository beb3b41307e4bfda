"""``KeyAdministration``: what the admin function may do in API Gateway to issue and revoke
client keys, and nothing more.

Issuing a key (``cli/keys.ClientKeys.create``) is CreateApiKey (``POST /apikeys``) and
CreateUsagePlanKey on the stage's key plan only (``POST /usageplans/<id>/keys``); revoking
is GetApiKeys (``GET /apikeys``, to find the key by name and value) and DeleteApiKey
(``DELETE /apikeys/<key id>``); the plan itself is found by its name (``GET /usageplans``).
API Gateway authorizes its management API by HTTP verb on resource paths, so these are the
tightest statements it allows: a key's id is minted at creation, hence ``/apikeys/*``.

The statements are an inline policy of their own beside the role, not in the role's default
policy: they name the usage plan, which depends (through the API stage, its deployment and
methods) on the admin function, which depends on everything inside its role. In the default
policy that would be a dependency cycle; here the function and this policy are created in
either order, and the policy only waits for the plan.
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam

from constructs import Construct


def management_arn(path: str) -> str:
    """The ARN of an API Gateway management resource (``/apikeys``) in this region."""
    return f"arn:{Aws.PARTITION}:apigateway:{Aws.REGION}::{path}"


class KeyAdministration(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, role: iam.IRole, usage_plan: apigw.IUsagePlan
    ) -> None:
        super().__init__(scope, construct_id)
        plan_keys = management_arn(f"/usageplans/{usage_plan.usage_plan_id}/keys")
        self.policy = iam.Policy(
            self,
            "Policy",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    actions=["apigateway:POST"],
                    resources=[management_arn("/apikeys"), plan_keys],
                ),
                iam.PolicyStatement(
                    actions=["apigateway:GET"],
                    resources=[management_arn("/apikeys"), management_arn("/usageplans")],
                ),
                iam.PolicyStatement(
                    actions=["apigateway:DELETE"], resources=[management_arn("/apikeys/*")]
                ),
            ],
        )
