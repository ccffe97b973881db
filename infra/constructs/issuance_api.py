"""The issuance API's front door: an API Gateway HTTP API with IAM authorization.

Why an HTTP API and not the bare Function URL docs/issuance.md started from: callers
reach the API at ``api.<domain>`` in the one DNS domain. A Function URL cannot carry a
custom name, and CloudFront cannot front IAM authorization either (SigV4 signs the
Host header, which CloudFront rewrites). An HTTP API route with ``AWS_IAM`` verifies the
signature itself and hands the verified principal to the function in the payload 2.0
event as ``requestContext.authorizer.iam.userArn``, exactly where
``issuance.api.app._principal_arn`` reads it, and its stage writes one JSON access
record per request to a log group of its own so the access records can join the others.
"""

from __future__ import annotations

import json
from typing import Final

import jsii
from aws_cdk import CfnOutput, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from constructs import Construct

from infra.config import DeployConfig

# Every route lives under /v1 (the API's version is in its paths: docs/issuance.md).
ROUTE_PATHS: Final = ("/v1", "/v1/{proxy+}")

# Stage-wide throttle. AWS Private CA's IssueCertificate quota is 25 requests a second
# per account and region by default, and KMS's ECC signing quota is shared with the CRL
# updater; callers' own rate limits are enforced per principal in the app.
THROTTLE_RATE: Final = 25
THROTTLE_BURST: Final = 50

# One JSON object per request, the field names the other access logs use where they
# mean the same thing; ``principal`` is the IAM principal the route verified.
ACCESS_LOG_FIELDS: Final = {
    "requestId": "$context.requestId",
    "time": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "principal": "$context.identity.userArn",
    "method": "$context.httpMethod",
    "path": "$context.path",
    "route": "$context.routeKey",
    "protocol": "$context.protocol",
    "domain": "$context.domainName",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "integrationStatus": "$context.integrationStatus",
    "error": "$context.error.message",
}


def access_log_group_name(env_name: str) -> str:
    """Where the stage's access records go (no helper in infra.naming yet: see the
    report of issue 15; the analytics stack must subscribe to this name too)."""
    return f"/certsight/{env_name}/issuance/api-access"


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogs:
    """The stage's access-log settings: a log group and the JSON format above."""

    def __init__(self, group: logs.ILogGroup) -> None:
        self._group = group

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return apigwv2.LogGroupLogDestination(self._group)

    @property
    def format(self) -> apigw.AccessLogFormat:
        return apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":")))


class IssuanceApi(Construct):
    """HTTP API + IAM-authorized routes + logged, throttled stage + optional custom name."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeployConfig,
        function: lambda_.IFunction,
        api_name: str,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.hostname = config.hostname("issuance")
        custom_domain = config.regional_certificate_arn is not None

        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            log_group_name=access_log_group_name(config.env_name),
            retention=log_retention,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.api = apigwv2.HttpApi(
            self,
            "Api",
            api_name=api_name,
            description="certsight issuance API (IAM-authorized)",
            create_default_stage=False,
            default_authorizer=authorizers.HttpIamAuthorizer(),
            # With the custom name, it is the only way in: one name to sign for and to
            # find in the access logs.
            disable_execute_api_endpoint=custom_domain,
        )
        integration = integrations.HttpLambdaIntegration(
            "Function", function, payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0
        )
        for path in ROUTE_PATHS:
            self.api.add_routes(
                path=path, methods=[apigwv2.HttpMethod.ANY], integration=integration
            )
        self.stage = apigwv2.HttpStage(
            self,
            "Stage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=THROTTLE_RATE, burst_limit=THROTTLE_BURST),
            access_log_settings=_AccessLogs(self.access_logs),
        )

        if custom_domain:
            self.url = self._custom_name(config)
            CfnOutput(self, "CustomUrl", value=self.url, description="the issuance API")
        else:
            self.url = f"{self.api.api_endpoint}/v1"
            CfnOutput(self, "Endpoint", value=self.url, description="the issuance API")

    def _custom_name(self, config: DeployConfig) -> str:
        """``api.<domain>`` on the regional certificate, and its alias record when the
        hosted zone is ours to write."""
        assert config.regional_certificate_arn is not None
        domain = apigwv2.DomainName(
            self,
            "Domain",
            domain_name=self.hostname,
            certificate=acm.Certificate.from_certificate_arn(
                self, "Certificate", config.regional_certificate_arn
            ),
            endpoint_type=apigwv2.EndpointType.REGIONAL,
            security_policy=apigwv2.SecurityPolicy.TLS_1_2,
        )
        apigwv2.ApiMapping(self, "Mapping", api=self.api, domain_name=domain, stage=self.stage)
        if config.hosted_zone_id is not None:
            zone = route53.HostedZone.from_hosted_zone_attributes(
                self, "Zone", hosted_zone_id=config.hosted_zone_id, zone_name=config.domain
            )
            route53.ARecord(
                self,
                "Alias",
                zone=zone,
                record_name=self.hostname,
                target=route53.RecordTarget.from_alias(
                    targets.ApiGatewayv2DomainProperties(
                        domain.regional_domain_name, domain.regional_hosted_zone_id
                    )
                ),
            )
        return f"https://{self.hostname}/v1"
