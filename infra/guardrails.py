"""What every stack gets: cdk-nag's AwsSolutions checks, a permissions boundary on
every role, no IAM users, and the tags that say which module owns a resource.

cdk-nag 3 runs as a CDK validation plugin: an unacknowledged finding makes synthesis
raise, so a stack that does not pass cannot be deployed. Every acknowledgment goes
through ``acknowledge`` with a reason, next to the construct it is about.
"""

from __future__ import annotations

from collections.abc import Iterable

import jsii
from aws_cdk import Acknowledgment, App, Aspects, IAspect, Stack, Tags, Validations
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def enable_nag(app: App) -> None:
    """AwsSolutions checks on every stack of ``app`` (findings fail synthesis)."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(scope: IConstruct, rule: str, reason: str, findings: Iterable[str] = ()) -> None:
    """Accept a cdk-nag finding (``AwsSolutions-IAM5``...) on ``scope`` and below, with
    the reason a reviewer reads. An empty or vague reason is refused.

    Rules that report evidence (IAM4, IAM5: which action or resource is a wildcard)
    must be acknowledged per evidence, e.g. ``findings=["Action::s3:*",
    "Resource::*"]``: a blanket acknowledgment of IAM5 does not cover them, so each
    wildcard is accepted on its own, knowingly."""
    if len(reason.split()) < 5:
        raise ValueError(f"acknowledging {rule} needs a reason a reviewer can check")
    ids = [f"{rule}[{finding}]" for finding in findings] or [rule]
    for finding_id in ids:
        Validations.of(scope).acknowledge(Acknowledgment(id=finding_id, reason=reason))


class IamUserForbidden(Exception):
    """The app tried to create an IAM user (no human access: docs/deploy.md)."""


# What a certsight function or task may ever be granted (the boundary's ceiling).
_BOUNDARY_ACTIONS: tuple[str, ...] = (
    "s3:*",
    "dynamodb:*",
    "kms:*",
    "logs:*",
    "cloudwatch:PutMetricData",
    "sqs:*",
    "sns:Publish",
    "firehose:*",
    "glue:Get*",
    "glue:BatchGet*",
    "athena:*",
    "acm-pca:*",
    "ssm:GetParameter*",
    "secretsmanager:GetSecretValue",
    "lambda:InvokeFunction",
    # CodeDeploy's canary of the validation alias (shift, watch the alarms, roll back).
    "lambda:GetAlias",
    "lambda:UpdateAlias",
    "lambda:GetProvisionedConcurrencyConfig",
    "cloudwatch:DescribeAlarms",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "ecr:GetAuthorizationToken",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchCheckLayerAvailability",
    "elasticfilesystem:Client*",
    "ecs:RunTask",
    "iam:PassRole",
    "events:PutEvents",
    "cloudfront:CreateInvalidation",
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)


@jsii.implements(IAspect)
class _NoIamUsers:
    """Fails synthesis on any IAM user or access key: people never hold credentials in
    these accounts; pipelines assume roles through OIDC."""

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, iam.CfnUser | iam.CfnAccessKey):
            raise IamUserForbidden(f"{node.node.path}: certsight creates no IAM users or keys")


def apply_guardrails(stack: Stack, module: str) -> iam.ManagedPolicy:
    """Tag the stack, forbid IAM users, and bound every role it creates.

    The boundary allows what a certsight function or task may ever need and denies
    what none may do (create or change IAM principals, leave the organisation's
    audit trail, touch the boundary itself), so a policy mistake in one role cannot
    escalate. Returns the boundary policy."""
    Tags.of(stack).add("certsight:module", module)
    Tags.of(stack).add("certsight:managed-by", "cdk")
    Aspects.of(stack).add(_NoIamUsers())
    boundary = iam.ManagedPolicy(
        stack,
        "PermissionsBoundary",
        description=f"certsight {module}: the most any role of this stack may do",
        statements=[
            iam.PolicyStatement(
                sid="ServicesCertsightUses",
                actions=list(_BOUNDARY_ACTIONS),
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="NoPrincipalChanges",
                effect=iam.Effect.DENY,
                actions=[
                    "iam:Create*",
                    "iam:Delete*",
                    "iam:Put*",
                    "iam:Attach*",
                    "iam:Detach*",
                    "iam:Update*",
                    "iam:Add*",
                    "iam:Remove*",
                    "organizations:*",
                    "cloudtrail:StopLogging",
                    "cloudtrail:DeleteTrail",
                    "cloudtrail:UpdateTrail",
                ],
                resources=["*"],
            ),
        ],
    )
    iam.PermissionsBoundary.of(stack).apply(boundary)
    acknowledge(
        boundary,
        "AwsSolutions-IAM5",
        "A permissions boundary is a ceiling, not a grant: its wildcards bound what the "
        "stack's roles may ever be given, and each role's own policy is scoped.",
        findings=[f"Action::{action}" for action in _BOUNDARY_ACTIONS if "*" in action]
        + ["Resource::*"],
    )
    return boundary
