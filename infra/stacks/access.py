"""Who may change certsight's AWS account: the pipelines, one role per module, and nobody
else without leaving a trace that pages someone.

No human holds credentials in these accounts (the guardrail refuses IAM users and
keys). Each module's GitHub Actions workflow assumes its own deploy role through the
account's GitHub OIDC provider; the role's trust names that module's GitHub
*environment* (``repo:OWNER/NAME:environment:<module>``), and the environment is where
the repository's administrators set the required reviewers and the rule that only
``main`` may deploy. A workflow run for another module, a fork, a pull request or a
branch gets a token with another ``sub`` and cannot assume the role.

How a deploy role deploys: it may only assume the CDK bootstrap roles
(``cdk-hnb659fds-{deploy,file-publishing,image-publishing,lookup}-role-ACCOUNT-REGION``)
and read its own stack's status. CloudFormation then acts through the bootstrap's
execution role, so *that* role is where the real limit lies: bootstrap the account with
``cdk bootstrap --cloudformation-execution-policies <ARNs of policies scoped to the
services certsight uses>`` and ``--custom-permissions-boundary <boundary name>`` (never
the default AdministratorAccess), or a pipeline's template could grant itself anything.
The per-module roles make every change attributable to one pipeline in CloudTrail;
they do not, alone, stop a merged workflow from naming another stack.

Break-glass (no standing human access): an IAM Identity Center permission set for
administrators, kept unassigned; two people assign it for a bounded session (hours)
when a pipeline cannot repair the account, and remove it afterwards. The organisation's
management account root, with hardware MFA in a safe, is the last resort. Every
console sign-in and every use of the root user raises an alarm to the on-call topic
below, so a break-glass session is never silent.

The audit trail: a multi-region CloudTrail with log file validation, into a versioned,
KMS-encrypted, TLS-only bucket under S3 Object Lock (compliance mode, so not even an
administrator can shorten it) and into a CloudWatch Logs group for the alarms. This
stack is deployed by an administrator in a break-glass session, never by a pipeline: a
role able to deploy it could rewrite every pipeline's trust.

The OIDC provider is CloudFormation's own ``AWS::IAM::OIDCProvider`` (not the
custom-resource ``OpenIdConnectProvider``, whose Lambda would need the IAM writes the
permissions boundary denies). An account holds one provider per URL: where another
stack already created GitHub's, that one must be removed or adopted first.
"""

from __future__ import annotations

from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.config import DeployConfig
from infra.guardrails import acknowledge
from infra.naming import stack_name, warehouse_repository_name
from infra.stacks.base import ModuleStack

MODULE: Final = "access"
# The modules whose pipelines deploy (the access stack itself is never a pipeline's).
DEPLOYED_MODULES: Final = ("validation", "issuance", "publishing", "analytics")
GITHUB_OIDC_URL: Final = "https://token.actions.githubusercontent.com"
GITHUB_OIDC_HOST: Final = "token.actions.githubusercontent.com"
OIDC_AUDIENCE: Final = "sts.amazonaws.com"
# The CDK's default bootstrap qualifier and the roles the CLI assumes with it.
BOOTSTRAP_QUALIFIER: Final = "hnb659fds"
BOOTSTRAP_ROLES: Final = ("deploy", "file-publishing", "image-publishing", "lookup")
# Audit logs: kept a year and a bit (a yearly audit finds last year's logs whole),
# locked for a year so nobody, root included, can delete them sooner.
AUDIT_LOCK_DAYS: Final = 365
AUDIT_EXPIRY_DAYS: Final = 400
# The alarms' copy of the trail: the S3 copy is the record, this one only feeds the
# metric filters and a quick look during an incident.
AUDIT_LOG_GROUP_RETENTION: Final = logs.RetentionDays.THREE_MONTHS


def deploy_role_name(env_name: str, module: str) -> str:
    """The physical name of a module's deploy role (stable, so the repository variable
    holding its ARN is set once)."""
    return f"certsight-{env_name}-deploy-{module}"


def github_subject(repository: str, module: str) -> str:
    """The ``sub`` claim of a workflow job running in the module's GitHub environment."""
    return f"repo:{repository}:environment:{module}"


class AccessStack(ModuleStack):
    """The pipelines' OIDC trust and deploy roles, the audit trail and its alarms."""

    def __init__(self, scope: Construct, config: DeployConfig) -> None:
        super().__init__(
            scope,
            config,
            MODULE,
            description="certsight access: pipeline deploy roles (GitHub OIDC), audit trail, "
            "sign-in alarms",
        )
        boundary = self.boundary
        self._config = config
        self._allow_deploying_within(boundary)
        provider = iam.OidcProviderNative(
            self,
            "GitHubOidc",
            url=GITHUB_OIDC_URL,
            client_ids=[OIDC_AUDIENCE],
        )
        self.deploy_roles = {
            module: self._deploy_role(provider, module) for module in DEPLOYED_MODULES
        }
        key = self._audit_key()
        self.alarm_topic = self._alarm_topic(key)
        trail_log_group = self._trail(key)
        self._sign_in_alarms(trail_log_group)

    # -- the pipelines ---------------------------------------------------------------
    def _bootstrap_role_arn(self, kind: str) -> str:
        return self.format_arn(
            service="iam",
            region="",
            resource="role",
            resource_name=f"cdk-{BOOTSTRAP_QUALIFIER}-{kind}-role-{self.account}-{self.region}",
        )

    def _stack_arn(self, module: str) -> str:
        # The stack id after the name is CloudFormation's, unknown before creation.
        return self.format_arn(
            service="cloudformation",
            resource="stack",
            resource_name=f"{stack_name(self._config.env_name, module)}/*",
        )

    def _warehouse_repository_arn(self) -> str:
        return self.format_arn(
            service="ecr",
            resource="repository",
            resource_name=warehouse_repository_name(self._config.env_name),
        )

    def _allow_deploying_within(self, boundary: iam.ManagedPolicy) -> None:
        """The stack's boundary is written for functions; the deploy roles need three
        more things, each on named resources only: the bootstrap roles, their stacks'
        status, and the warehouse image repository."""
        boundary.add_statements(
            iam.PolicyStatement(
                sid="DeployThroughTheCdkBootstrap",
                actions=["sts:AssumeRole"],
                resources=[self._bootstrap_role_arn(kind) for kind in BOOTSTRAP_ROLES],
            ),
            iam.PolicyStatement(
                sid="ReadOwnStacks",
                actions=["cloudformation:DescribeStacks"],
                resources=[self._stack_arn(module) for module in DEPLOYED_MODULES],
            ),
            iam.PolicyStatement(
                sid="PushWarehouseImage",
                actions=_ECR_PUSH_ACTIONS,
                resources=[self._warehouse_repository_arn()],
            ),
        )
        acknowledge(
            boundary,
            "AwsSolutions-IAM5",
            "CloudFormation appends a stack id it chooses at creation to every stack ARN, "
            "so each certsight stack is named exactly and only its id is a wildcard.",
            findings=[_finding_resource(self, self._stack_arn(m)) for m in DEPLOYED_MODULES],
        )

    def _deploy_role(self, provider: iam.OidcProviderNative, module: str) -> iam.Role:
        repository = self._config.github_repository
        role = iam.Role(
            self,
            f"DeployRole{module.capitalize()}",
            role_name=deploy_role_name(self._config.env_name, module),
            description=f"certsight {module} pipeline: GitHub environment {module!r} of "
            f"{repository} only; assumes the CDK bootstrap roles",
            assumed_by=iam.WebIdentityPrincipal(
                provider.oidc_provider_arn,
                conditions={
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": OIDC_AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": github_subject(repository, module),
                    }
                },
            ),
            # A deployment, CloudFront and the canary included, ends well within the
            # hour; a leaked session token dies with it.
            max_session_duration=cdk.Duration.hours(1),
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="AssumeCdkBootstrapRoles",
                actions=["sts:AssumeRole"],
                resources=[self._bootstrap_role_arn(kind) for kind in BOOTSTRAP_ROLES],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadOwnStack",
                actions=["cloudformation:DescribeStacks"],
                resources=[self._stack_arn(module)],
            )
        )
        findings = [_finding_resource(self, self._stack_arn(module))]
        if module == "analytics":
            # The pipeline builds the warehouse job's image and pushes it before it
            # deploys (the bootstrap's image role only reaches the CDK asset repository).
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="PushWarehouseImage",
                    actions=_ECR_PUSH_ACTIONS,
                    resources=[self._warehouse_repository_arn()],
                )
            )
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="SignInToEcr",
                    actions=["ecr:GetAuthorizationToken"],
                    resources=["*"],
                )
            )
            findings.append("Resource::*")
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "The stack id CloudFormation appends to the role's own stack ARN is unknown "
            "before creation; ecr:GetAuthorizationToken has no resource-level permissions.",
            findings=findings,
        )
        cdk.CfnOutput(
            self,
            f"DeployRoleArn{module.capitalize()}",
            value=role.role_arn,
            description=f"repository variable CERTSIGHT_DEPLOY_ROLE_{module.upper()}",
        )
        return role

    # -- the audit trail -----------------------------------------------------------------
    def _audit_key(self) -> kms.Key:
        """One key for the audit data: the trail's log files, their bucket and the alarm
        topic; each service may use it only for what it does with it."""
        key = kms.Key(
            self,
            "AuditKey",
            description=f"certsight {self._config.env_name}: CloudTrail logs and audit alarms",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        trail_arn = self.format_arn(
            service="cloudtrail", resource="trail", resource_name=self._trail_name
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailEncryptsLogs",
                principals=[iam.ServicePrincipal("cloudtrail.amazonaws.com")],
                actions=["kms:GenerateDataKey*"],
                resources=["*"],
                conditions={
                    "StringEquals": {"aws:SourceArn": trail_arn},
                    "StringLike": {
                        "kms:EncryptionContext:aws:cloudtrail:arn": self.format_arn(
                            service="cloudtrail", region="*", resource="trail", resource_name="*"
                        )
                    },
                },
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailDescribesKey",
                principals=[iam.ServicePrincipal("cloudtrail.amazonaws.com")],
                actions=["kms:DescribeKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceArn": trail_arn}},
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublishToTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        return key

    @property
    def _trail_name(self) -> str:
        return f"certsight-{self._config.env_name}-audit"

    def _trail(self, key: kms.Key) -> logs.LogGroup:
        access_logs = s3.Bucket(
            self,
            "AuditAccessLogs",
            # Server access logs can only be delivered to SSE-S3 buckets (S3's log
            # delivery writes them under the bucket ACL CDK grants it).
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=cdk.Duration.days(AUDIT_EXPIRY_DAYS),
                    noncurrent_version_expiration=cdk.Duration.days(30),
                )
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        bucket = s3.Bucket(
            self,
            "AuditTrailBucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            object_lock_enabled=True,
            object_lock_default_retention=s3.ObjectLockRetention.compliance(
                cdk.Duration.days(AUDIT_LOCK_DAYS)
            ),
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=cdk.Duration.days(AUDIT_EXPIRY_DAYS),
                    noncurrent_version_expiration=cdk.Duration.days(1),
                )
            ],
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="audit-trail-bucket/",
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        log_group = logs.LogGroup(
            self,
            "AuditTrailLogs",
            log_group_name=f"/certsight/{self._config.env_name}/audit/cloudtrail",
            retention=AUDIT_LOG_GROUP_RETENTION,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        cloudtrail.Trail(
            self,
            "AuditTrail",
            trail_name=self._trail_name,
            bucket=bucket,
            encryption_key=key,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_file_validation=True,
            management_events=cloudtrail.ReadWriteType.ALL,
            send_to_cloud_watch_logs=True,
            cloud_watch_log_group=log_group,
        )
        return log_group

    # -- who signs in --------------------------------------------------------------------
    def _alarm_topic(self, key: kms.Key) -> sns.Topic:
        topic = sns.Topic(
            self,
            "AuditAlarms",
            display_name=f"certsight {self._config.env_name} audit alarms",
            master_key=key,
            enforce_ssl=True,
        )
        if self._config.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(self._config.alarm_email))
        return topic

    def _sign_in_alarms(self, log_group: logs.LogGroup) -> None:
        """Nobody signs in to these accounts in normal operation, so every console
        sign-in and every use of the root user is worth a page (the CIS benchmark's
        root-usage filter; sign-ins of any kind, failed ones included)."""
        namespace = f"certsight/{self._config.env_name}/audit"
        patterns = {
            "ConsoleSignIn": (
                '{ ($.eventName = "ConsoleLogin") }',
                "someone signed in to the AWS console (break-glass session?)",
            ),
            "RootUsage": (
                '{ ($.userIdentity.type = "Root") && ($.userIdentity.invokedBy NOT EXISTS) '
                '&& ($.eventType != "AwsServiceEvent") }',
                "the root user was used",
            ),
        }
        for metric_name, (pattern, meaning) in patterns.items():
            metric_filter = logs.MetricFilter(
                self,
                f"{metric_name}Filter",
                log_group=log_group,
                filter_pattern=logs.FilterPattern.literal(pattern),
                metric_namespace=namespace,
                metric_name=metric_name,
                metric_value="1",
            )
            alarm = cloudwatch.Alarm(
                self,
                f"{metric_name}Alarm",
                alarm_description=f"certsight {self._config.env_name}: {meaning}",
                metric=metric_filter.metric(statistic="Sum", period=cdk.Duration.minutes(5)),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(cw_actions.SnsAction(self.alarm_topic))


_ECR_PUSH_ACTIONS: Final = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
    "ecr:DescribeImages",
    "ecr:DescribeRepositories",
    "ecr:BatchGetImage",
]


def _finding_resource(stack: cdk.Stack, arn: str) -> str:
    """cdk-nag's evidence id for a resource ARN: the ARN as CloudFormation receives it,
    with ``Ref`` spelt ``<Name>`` and ``Fn::GetAtt`` spelt ``<Logical.Attribute>``."""
    return "Resource::" + _nag_spelling(stack.resolve(arn))


def _nag_spelling(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(_nag_spelling(part) for part in parts)
    raise ValueError(f"cannot spell {value!r} as cdk-nag evidence")
