"""The issuance module's stack: the issuing CA's key in KMS, the issuance API and the
CRL updater (business support: a day's outage delays renewals, never validation).

It meets the other stacks only through SSM parameters (the validation stack's
certificate table, its stream and the CRL bucket) and through physical names the
analytics stack subscribes to (the functions' log groups, where issuance events land
as JSON lines on their way to RAW).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.assets import unit_code
from infra.config import DeployConfig
from infra.constructs.issuance_alarms import issuance_alarms
from infra.constructs.issuance_api import IssuanceApi
from infra.constructs.issuance_crl import CrlUpdaterTriggers
from infra.constructs.issuance_key import ca_key
from infra.constructs.raw_subscription import ShipRecordsToRaw
from infra.guardrails import acknowledge
from infra.naming import (
    CERTIFICATE_TABLE,
    CERTIFICATE_TABLE_STREAM,
    CRL_BUCKET,
    function_name,
    log_group_name,
    shared,
)
from infra.stacks.base import ModuleStack
from pki.layout import ISSUING_NAME, ROOT_NAME
from pki.store.dynamodb import REVOKED_INDEX, SERIAL_INDEX

MODULE: Final = "issuance"
API_HANDLER: Final = "issuance.lambda_handler.api_handler"
CRL_PREFIX: Final = "crl"
# Seconds until a CRL's nextUpdate: a day, signed again every hour (issuance_crl.SCHEDULE).
CRL_VALIDITY: Final = 86400
# Lambda's only writable folder: the API's SQLite state lasts as long as the container,
# since issuance/statedb.py has no other backend yet (docs/issuance.md, "IAM principals").
ISSUANCE_STATE: Final = "/tmp/certsight-issuance"  # noqa: S108 - Lambda's only writable folder
# The PKI bundle is a Lambda layer, which Lambda unpacks under /opt.
PKI_DIR: Final = "/opt/pki"
SETTINGS_FILE: Final = "/opt/certsight.toml"
LOG_RETENTION: Final = logs.RetentionDays.ONE_MONTH

# What issuance/backends/aws_pca.py calls on a CA besides IssueCertificate (which gets a
# template condition below); docs/issuance.md lists the same five.
PCA_ACTIONS: Final = (
    "acm-pca:GetCertificate",
    "acm-pca:RevokeCertificate",
    "acm-pca:GetCertificateAuthorityCertificate",
    "acm-pca:DescribeCertificateAuthority",
)
# End-entity templates only: the API must never mint a subordinate CA through PCA.
PCA_END_ENTITY_TEMPLATES: Final = "arn:*:acm-pca:::template/EndEntity*"

_PCA_ARN = re.compile(
    r"^arn:aws[a-z-]*:acm-pca:[a-z0-9-]+:\d{12}:certificate-authority/[0-9a-f-]+$"
)
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]+$")


class IssuanceStack(ModuleStack):
    """The CA key, the issuance API and the CRL updater of one environment.

    ``private_ca_arns``: the AWS Private CA authorities that profiles of the settings
    name (``[issuance.backends.X] ca_arn``); the API function may issue, read and
    revoke on exactly those, and on none when empty.
    ``ca_ceremony_role_arns``: roles that may sign with the CA key besides the two
    functions, for ``certsight ca init --issuing-kms-key`` (it signs the OCSP signer's
    certificate with the key). Empty by default: name a role for the ceremony's
    deployment, and deploy again without it afterwards.
    ``pki_bundle``: a folder with ``pki/`` (the CA certificates and ``ca.json`` that
    ``ca init`` wrote, never a key) and optionally ``certsight.toml`` (``[issuance]``),
    shipped to both functions as a layer. Without it (the first deployment, before the
    key has a certificate) the functions deploy but cannot sign.
    """

    def __init__(
        self,
        scope: Construct,
        config: DeployConfig,
        *,
        private_ca_arns: Sequence[str] = (),
        ca_ceremony_role_arns: Sequence[str] = (),
        pki_bundle: Path | None = None,
    ) -> None:
        super().__init__(
            scope,
            config,
            MODULE,
            description="certsight issuance: CA key in KMS, issuance API, CRL updater",
        )
        env = config.env_name
        _check_arns(private_ca_arns, _PCA_ARN, "private_ca_arns", "an AWS Private CA ARN")
        _check_arns(ca_ceremony_role_arns, _ROLE_ARN, "ca_ceremony_role_arns", "an IAM role ARN")

        table_name = ssm.StringParameter.value_for_string_parameter(
            self, shared(env, CERTIFICATE_TABLE)
        )
        stream_arn = ssm.StringParameter.value_for_string_parameter(
            self, shared(env, CERTIFICATE_TABLE_STREAM)
        )
        crl_bucket = ssm.StringParameter.value_for_string_parameter(self, shared(env, CRL_BUCKET))
        store = f"dynamodb://{table_name}"

        self.api_role = _function_role(self, "ApiRole", "issuance API")
        self.crl_role = _function_role(self, "CrlUpdaterRole", "CRL updater")
        self.ca_key = ca_key(self, [self.api_role, self.crl_role], ca_ceremony_role_arns)

        table_arn = self.format_arn(service="dynamodb", resource="table", resource_name=table_name)
        indexes = [f"{table_arn}/index/{index}" for index in (SERIAL_INDEX, REVOKED_INDEX)]
        _grant_store(self.api_role, table_arn, indexes, writes=True)
        _grant_store(self.crl_role, table_arn, indexes, writes=False)
        _grant_crl_objects(self.crl_role, crl_bucket)
        if private_ca_arns:
            _grant_private_ca(self.api_role, private_ca_arns)

        unit = unit_code(config.dist, MODULE)
        layers = [_pki_layer(self, pki_bundle)] if pki_bundle is not None else []
        settings_given = pki_bundle is not None and (pki_bundle / "certsight.toml").is_file()
        common = {"CERTSIGHT_PKI_DIR": PKI_DIR, "CERTSIGHT_STORE": store}

        api_logs = _log_group(self, "ApiLogs", log_group_name(env, "issuance-api"), self.api_role)
        # Issuance events go to RAW (the analytics stack's Firehose), like access records.
        ShipRecordsToRaw(self, "EventsToRaw", env_name=env, log_group=api_logs)
        self.api_function = lambda_.Function(
            self,
            "ApiFunction",
            function_name=function_name(env, "issuance-api"),
            description="certsight issuance API (behind the IAM-authorized HTTP API)",
            code=unit.code,
            handler=API_HANDLER,
            runtime=unit.runtime,
            architecture=unit.architecture,
            role=self.api_role,
            # FastAPI, pydantic and cryptography import in about a second at 1 GB (CPU
            # scales with memory); a request is then mostly KMS or PCA round trips.
            memory_size=1024,
            # API Gateway answers 503 after 30 s whatever the function does; PCA backends
            # must keep wait_seconds well under this and let the order go pending.
            timeout=cdk.Duration.seconds(29),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=api_logs,
            layers=layers,
            environment={
                **common,
                "CERTSIGHT_ISSUANCE_STATE": ISSUANCE_STATE,
                **({"CERTSIGHT_SETTINGS": SETTINGS_FILE} if settings_given else {}),
            },
        )

        self.failures = sqs.Queue(
            self,
            "CrlFailures",
            queue_name=f"{function_name(env, 'crl-updater')}-failures",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        acknowledge(
            self.failures,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter destination of the CRL updater's "
            "schedule, stream mapping and asynchronous invocations; nothing consumes it.",
        )
        self.crl_function = lambda_.Function(
            self,
            "CrlUpdaterFunction",
            function_name=function_name(env, "crl-updater"),
            description="certsight CRL updater: signs every CA's CRL through KMS",
            code=unit.code,
            handler=unit.handler,
            runtime=unit.runtime,
            architecture=unit.architecture,
            role=self.crl_role,
            # Building a CRL reads every revoked entry of the issuer and DER-encodes it;
            # 512 MB holds a CRL of hundreds of thousands of entries.
            memory_size=512,
            # Paging the revoked index of a large CA and one KMS Sign take seconds; five
            # minutes leaves room for DynamoDB and KMS retries under throttling.
            timeout=cdk.Duration.minutes(5),
            # One updater at a time: concurrent runs would sign CRLs whose numbers and
            # thisUpdate times race, and one run already covers every CA.
            reserved_concurrent_executions=1,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=_log_group(
                self, "CrlUpdaterLogs", log_group_name(env, "crl-updater"), self.crl_role
            ),
            layers=layers,
            dead_letter_queue=self.failures,
            environment={
                **common,
                "CERTSIGHT_CRLS": f"s3://{crl_bucket}/{CRL_PREFIX}",
                "CERTSIGHT_CRL_VALIDITY": str(CRL_VALIDITY),
            },
        )
        for function in (self.api_function, self.crl_function):
            acknowledge(
                function,
                "AwsSolutions-L1",
                "The runtime is the one the unit zip's bytecode and wheels were built for "
                "(its manifest, infra/assets.py); a newer one would not load them.",
            )

        self.triggers = CrlUpdaterTriggers(
            self,
            "CrlTriggers",
            function=self.crl_function,
            role=self.crl_role,
            stream_arn=stream_arn,
            failures=self.failures,
            schedule_name=function_name(env, "crl-updater"),
        )
        acknowledge(
            self.triggers.stream_read,
            "AwsSolutions-IAM5",
            "dynamodb:ListStreams takes no resource; Lambda's stream poller needs it, and "
            "it lists stream ARNs only, never items.",
            findings=["Resource::*"],
        )

        self.api = IssuanceApi(
            self,
            "Api",
            config=config,
            function=self.api_function,
            api_name=function_name(env, "issuance-api"),
            log_retention=LOG_RETENTION,
        )
        self.alarm_topic = issuance_alarms(
            self, config, self.api, [self.api_function, self.crl_function], self.failures
        )
        cdk.CfnOutput(
            self,
            "CaKeyArn",
            value=self.ca_key.key_arn,
            description="certsight ca init --issuing-kms-key <this> (the issuing CA's key)",
        )


def _check_arns(values: Sequence[str], pattern: re.Pattern[str], what: str, kind: str) -> None:
    """Refuse a malformed ARN at synthesis: a typo would otherwise deploy a grant that
    matches nothing (or, with a wildcard, too much)."""
    if isinstance(values, str):
        raise TypeError(f"{what} takes a sequence of ARNs, not one string")
    for value in values:
        if not pattern.match(value):
            raise ValueError(f"{what}: {value!r} is not {kind}")


def _function_role(scope: Construct, construct_id: str, what: str) -> iam.Role:
    """A role of our own, not Lambda's default: no AWS managed policy, and the key
    policy can name it before the function exists."""
    role = iam.Role(
        scope,
        construct_id,
        description=f"certsight {what} function",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
    )
    acknowledge(
        role,
        "AwsSolutions-IAM5",
        "X-Ray's PutTraceSegments and PutTelemetryRecords take no resource; active "
        "tracing adds exactly those two actions.",
        findings=["Resource::*"],
    )
    return role


def _grant_store(role: iam.Role, table_arn: str, indexes: Sequence[str], *, writes: bool) -> None:
    """The certificate table. The API adds certificates and revokes them (transactions
    check PutItem/UpdateItem per item); the CRL updater reads, and writes only the CRL
    number counters (partition ``#crl``, pki/store/dynamodb.py)."""
    role.add_to_policy(
        iam.PolicyStatement(
            sid="ReadTheStore",
            actions=["dynamodb:GetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"],
            resources=[table_arn, *indexes],
        )
    )
    if writes:
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteTheStore",
                actions=["dynamodb:PutItem", "dynamodb:UpdateItem"],
                resources=[table_arn],
            )
        )
    else:
        role.add_to_policy(
            iam.PolicyStatement(
                sid="CountCrlNumbers",
                actions=["dynamodb:UpdateItem"],
                resources=[table_arn],
                conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["#crl"]}},
            )
        )


def _grant_crl_objects(role: iam.Role, bucket: str) -> None:
    """The CRL objects by name (``crl/<ca>.crl``, file stems that are an interface), and
    listing, without which S3 answers a first run's missing object with 403, not 404."""
    objects = [
        f"arn:{cdk.Aws.PARTITION}:s3:::{bucket}/{CRL_PREFIX}/{name}.crl"
        for name in (
            ISSUING_NAME,
            ROOT_NAME,
        )
    ]
    role.add_to_policy(
        iam.PolicyStatement(
            sid="WriteCrls", actions=["s3:GetObject", "s3:PutObject"], resources=objects
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid="ListCrls",
            actions=["s3:ListBucket"],
            resources=[f"arn:{cdk.Aws.PARTITION}:s3:::{bucket}"],
        )
    )


def _grant_private_ca(role: iam.Role, arns: Sequence[str]) -> None:
    role.add_to_policy(
        iam.PolicyStatement(
            sid="IssueEndEntityThroughPca",
            actions=["acm-pca:IssueCertificate"],
            resources=list(arns),
            conditions={"ArnLike": {"acm-pca:TemplateArn": PCA_END_ENTITY_TEMPLATES}},
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(sid="UsePca", actions=list(PCA_ACTIONS), resources=list(arns))
    )


def _log_group(scope: Construct, construct_id: str, name: str, role: iam.Role) -> logs.LogGroup:
    """The function's log group, made before the function so its name, retention and
    RETAIN are ours (the analytics stack subscribes to it by that name); the role may
    write to it and to no other group (no AWSLambdaBasicExecutionRole)."""
    group = logs.LogGroup(
        scope,
        construct_id,
        log_group_name=name,
        retention=LOG_RETENTION,
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    group.grant_write(role)
    return group


def _pki_layer(scope: Construct, bundle: Path) -> lambda_.LayerVersion:
    """The CA certificates (and settings) as a layer at /opt, after checking that no
    private key rides along: the issuing key is in KMS, the root's stays offline."""
    if not (bundle / "pki").is_dir():
        raise ValueError(f"pki_bundle {bundle}: needs a pki/ folder (from certsight ca init)")
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        if path.suffix == ".key" or b"PRIVATE KEY" in path.read_bytes():
            raise ValueError(f"pki_bundle holds a private key ({path}): ship certificates only")
    return lambda_.LayerVersion(
        scope,
        "PkiBundle",
        description="certsight issuance: CA certificates, ca.json and settings (no keys)",
        code=lambda_.Code.from_asset(str(bundle)),
    )
