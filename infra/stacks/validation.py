"""The validation module in AWS (issue 15): OCSP and CRLs behind CloudFront.

- **Function**: the validation unit's zip (responders/, pki/, no issuance code) behind a
  Function URL on the alias ``live``; CodeDeploy shifts the alias in a canary and rolls
  back on the 5xx alarm. It reads the certificate table and the CRL bucket, nothing else.
- **PKI folder** (``CERTSIGHT_PKI_DIR``): a Lambda layer, ``/opt/certsight-pki``, staged
  from a folder of the deployment by ``infra.constructs.pki_layers``: the two CA
  certificates and the delegated OCSP signers' certificates and keys, re-encoded from
  what was parsed; a CA key is never read, and a signer key that is a CA's is refused.
  Why a layer: the handler reads a local folder (not S3, not Secrets Manager), and a
  layer is versioned with the function, so a new signer goes through the same canary
  and rollback as code. Why not EFS: a VPC, an extra service on the request path, and
  a signer change that reaches containers without any canary. The delegated signer's
  key is the one key this internet-facing function holds by design (RFC 6960 4.2.2.2:
  that is what delegation is for); the CA keys stay with the issuance module.
  The source folder is ``DIST/validation-pki`` (``DeployConfig.pki_bundle``).
- **CDN** (``infra.constructs.validation_cdn``): the default behaviour (OCSP GET/POST,
  ``/ca/*.crt``) to the Function URL with a secret origin header; ``/crl/*`` to the CRL
  bucket through origin access control; plain HTTP allowed, as OCSP and CRLs need.
- **Certificate table**: the store of pki/store/dynamodb.py, shared with issuance (which
  writes it) through SSM, with the stream the issuance CRL updater follows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.assets import unit_code
from infra.config import DeployConfig
from infra.constructs.pki_layers import PKI_DIR, stage_validation_pki
from infra.constructs.raw_subscription import ShipRecordsToRaw
from infra.constructs.validation_alarms import ValidationAlarms
from infra.constructs.validation_cdn import CDN_MAX_AGE, ValidationCdn
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
from pki.store.dynamodb import PK, REVOKED_INDEX, REVOKED_KEY, SERIAL_INDEX, SK

MODULE: Final = "validation"
FUNCTION: Final = "ocsp"
ALIAS: Final = "live"
CRL_PREFIX: Final = "crl"  # s3://BUCKET/crl/<ca>.crl is served as /crl/<ca>.crl
_ACCESS_LOGS_BY_POLICY: Final = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"

# Memory: a container starts at about 90 MB and its caches are bounded at 64 MiB
# (docs/ocsp.md), so 256 MB would hold it; 1024 MB buys CPU (Lambda allots CPU by
# memory) for the signatures and the cold start's imports, which is where p99 goes.
MEMORY_MB: Final = 1024
# Timeout: the store's SDK budget is 3 attempts of 2 s connect + 3 s read (about 15 s
# worst case, pki/store/dynamodb.py), after which the responder answers tryLater
# itself; a shorter timeout would kill the container (and its caches) instead.
TIMEOUT: Final = cdk.Duration.seconds(20)
# Reserved concurrency: guaranteed to OCSP whatever else runs in the account, and a
# ceiling on what a flood can cost. An answer takes a few milliseconds warm, so 100
# containers serve several thousand origin requests per second (GETs mostly stay at
# the edge; POSTs always reach the origin); the throttles alarm says when it is short.
# The account's concurrency limit must leave 100 unreserved on top (default 1000).
RESERVED_CONCURRENCY: Final = 100
# A CRL is rewritten at least hourly; a month of the served history is kept for audit
# and for restoring one after a bad write.
NONCURRENT_CRL_DAYS: Final = 30


def validation_pki_folder(config: DeployConfig) -> Path:
    return config.pki_bundle(MODULE)


class ValidationStack(ModuleStack):
    """OCSP and CRL serving: function, canary, CDN, CRL bucket, certificate table."""

    def __init__(
        self, scope: Construct, config: DeployConfig, *, pki_source: Path | None = None
    ) -> None:
        """``pki_source``: the folder the PKI layer is staged from (default
        ``validation_pki_folder(config)``)."""
        # S3 server access logs delivered under a bucket policy, not the log-delivery
        # ACL (CDK's current default, set here because the app may predate it): the
        # log bucket can then keep ACLs disabled like every other bucket.
        super().__init__(
            scope,
            config,
            MODULE,
            description="certsight validation: OCSP and CRLs (function, CDN, certificate store)",
            context={_ACCESS_LOGS_BY_POLICY: True},
        )
        env = config.env_name

        self.table = self._certificate_table(env)
        self.crl_bucket = self._crl_bucket(config)
        secret = secretsmanager.Secret(
            self,
            "OriginSecret",
            description="certsight validation: X-Certsight-Origin-Secret, CloudFront to origin",
            # No punctuation: the function reads comma-separated values (rotation).
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=48
            ),
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "The value is resolved into the distribution and the function at deployment, "
            "so an automatic rotation would desynchronise them until the next deployment "
            "and make the origin refuse the CDN; it is rotated through a deployment.",
        )
        # A CloudFormation dynamic reference ({{resolve:secretsmanager:...}}), not the
        # value: the template and the cloud assembly never hold the secret; CloudFormation
        # resolves it into the origin header and the function's environment at deploy
        # time (and only when the template changes: it does not notice a new value).
        origin_secret = secret.secret_value.unsafe_unwrap()

        self.function, self.alias = self._function(config, origin_secret, pki_source)
        self.function_url = self.alias.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)
        self.distribution = ValidationCdn(
            self,
            "Cdn",
            config=config,
            function_url=self.function_url,
            origin_secret=origin_secret,
            crl_bucket=self.crl_bucket,
            crl_prefix=CRL_PREFIX,
        ).distribution

        self.alarms = ValidationAlarms(
            self,
            "Alarms",
            function=self.function,
            alias=self.alias,
            log_group=self._log_group,
            distribution=self.distribution,
            env_name=env,
            alarm_email=config.alarm_email,
            watch_distribution=config.region == "us-east-1",
        )
        self._canary()
        # The access-log records go to RAW (the analytics stack's Firehose).
        ShipRecordsToRaw(self, "RecordsToRaw", env_name=env, log_group=self._log_group)

        for construct_id, what, value in (
            ("CertificateTableName", CERTIFICATE_TABLE, self.table.table_name),
            ("CertificateTableStream", CERTIFICATE_TABLE_STREAM, self.table.table_stream_arn),
            ("CrlBucketName", CRL_BUCKET, self.crl_bucket.bucket_name),
        ):
            if value is None:
                raise RuntimeError(f"{construct_id}: the table has no stream")
            ssm.StringParameter(
                self, construct_id, parameter_name=shared(env, what), string_value=value
            )
        cdk.CfnOutput(
            self,
            "DistributionDomainName",
            description="The CDN's own name (point the validation host name here)",
            value=self.distribution.distribution_domain_name,
        )
        cdk.CfnOutput(
            self,
            "FunctionUrl",
            description="The origin (answers 403 without the CDN's secret header)",
            value=self.function_url.url,
        )

    # -- state -----------------------------------------------------------------------

    def _certificate_table(self, env: str) -> dynamodb.Table:
        """The store's one table, as ``DynamoDbStore.ensure_table`` would create it.

        Encryption: the AWS-owned key. The table holds certificate metadata (serials,
        subjects, statuses), largely public through CT logs and OCSP itself; a customer
        key would put KMS on every OCSP read's path and need grants for the issuance
        stack's roles, for no secret to protect."""
        table = dynamodb.Table(
            self,
            "Certificates",
            table_name=f"certsight-{env}-certificates",
            partition_key=dynamodb.Attribute(name=PK, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=SK, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.DEFAULT,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            # The change feed reads the change log items, not a stream; the stream is
            # for the issuance CRL updater, which filters revocations by NewImage.
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        table.add_global_secondary_index(
            index_name=SERIAL_INDEX,
            partition_key=dynamodb.Attribute(name=SK, type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        table.add_global_secondary_index(
            index_name=REVOKED_INDEX,
            partition_key=dynamodb.Attribute(name=REVOKED_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=SK, type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        return table

    def _crl_bucket(self, config: DeployConfig) -> s3.Bucket:
        access_logs = s3.Bucket(
            self,
            "CrlAccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,  # the only kind S3 logging writes
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            # They name callers' addresses: kept as long as client addresses are.
            lifecycle_rules=[
                s3.LifecycleRule(expiration=cdk.Duration.days(config.retention.client_address_days))
            ],
        )
        acknowledge(
            access_logs,
            "AwsSolutions-S1",
            "This bucket is the destination of the CRL bucket's server access logs; "
            "logging it to itself would loop and another bucket would only move the finding.",
        )
        return s3.Bucket(
            self,
            "CrlBucket",
            versioned=True,
            # CRLs are public, signed documents: S3-managed encryption keeps origin access
            # control and the issuance writer free of KMS grants.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="crl-bucket/",
            removal_policy=cdk.RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    noncurrent_version_expiration=cdk.Duration.days(NONCURRENT_CRL_DAYS)
                )
            ],
        )

    # -- the function ----------------------------------------------------------------

    def _function(
        self, config: DeployConfig, origin_secret: str, pki_source: Path | None
    ) -> tuple[lambda_.Function, lambda_.Alias]:
        env = config.env_name
        unit = unit_code(config.dist, "validation")
        staged = stage_validation_pki(pki_source or validation_pki_folder(config))
        pki_layer = lambda_.LayerVersion(
            self,
            "PkiLayer",
            code=lambda_.Code.from_asset(str(staged)),
            compatible_runtimes=[unit.runtime],
            compatible_architectures=[unit.architecture],
            description="certsight validation: CA certificates and delegated OCSP signers "
            "(no CA key)",
        )
        self._log_group = logs.LogGroup(
            self,
            "FunctionLogs",
            log_group_name=log_group_name(env, FUNCTION),
            # The access records are the product's data, but they reach RAW through the
            # analytics stack's subscription; this copy is for operations.
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        role = iam.Role(
            self,
            "FunctionRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="certsight validation function: reads certificates and CRLs",
        )
        self._grant_reads(role)
        # A role of our own has no AWSLambdaBasicExecutionRole: without these the
        # function's access records and feed lines would go nowhere.
        self._log_group.grant_write(role)
        function = lambda_.Function(
            self,
            "Function",
            function_name=function_name(env, FUNCTION),
            description="certsight validation: OCSP responder and CRL server",
            code=unit.code,
            handler=unit.handler,
            runtime=unit.runtime,
            architecture=unit.architecture,
            layers=[pki_layer],
            memory_size=MEMORY_MB,
            timeout=TIMEOUT,
            reserved_concurrent_executions=RESERVED_CONCURRENCY,
            tracing=lambda_.Tracing.ACTIVE,
            role=role,
            log_group=self._log_group,
            environment={
                "CERTSIGHT_PKI_DIR": PKI_DIR,
                "CERTSIGHT_STORE": f"dynamodb://{self.table.table_name}",
                "CERTSIGHT_CRLS": f"s3://{self.crl_bucket.bucket_name}/{CRL_PREFIX}",
                "CERTSIGHT_ORIGIN_SECRET": origin_secret,
                "CERTSIGHT_TRUST_VIEWER_ADDRESS": "1",
                "CERTSIGHT_CDN_MAX_AGE": str(CDN_MAX_AGE),
            },
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            "The runtime is the one the unit zip was compiled for (its manifest's "
            "bytecode and wheels); a newer Python is a venv change and a new zip.",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "X-Ray's trace actions take no resource (AWS documents only '*' for them); CRL "
            "objects are read by name under the crl/ prefix only, nothing else in the bucket.",
            findings=[
                "Resource::*",
                f"Resource::<{self.get_logical_id(_cfn(self.crl_bucket))}.Arn>/{CRL_PREFIX}/*",
            ],
        )
        alias = lambda_.Alias(self, "Live", alias_name=ALIAS, version=function.current_version)
        return function, alias

    def _grant_reads(self, role: iam.Role) -> None:
        """What pki/store/dynamodb.py and pki/store/objects.py call as a reader."""
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadCertificates",
                # get (strongly consistent), find_serial and revoked (indexes),
                # changes_since (the change log partition).
                actions=["dynamodb:GetItem", "dynamodb:Query"],
                resources=[
                    self.table.table_arn,
                    *(f"{self.table.table_arn}/index/{i}" for i in (SERIAL_INDEX, REVOKED_INDEX)),
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadCrls",
                actions=["s3:GetObject"],
                resources=[self.crl_bucket.arn_for_objects(f"{CRL_PREFIX}/*")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                # Without it a missing CRL is a 403, which the store reads as an outage.
                sid="TellMissingCrls",
                actions=["s3:ListBucket"],
                resources=[self.crl_bucket.bucket_arn],
            )
        )

    def _canary(self) -> None:
        group = codedeploy.LambdaDeploymentGroup(
            self,
            "Canary",
            alias=self.alias,
            deployment_config=codedeploy.LambdaDeploymentConfig.CANARY_10_PERCENT_5_MINUTES,
            alarms=[self.alarms.five_xx],
            auto_rollback=codedeploy.AutoRollbackConfig(
                failed_deployment=True, stopped_deployment=True, deployment_in_alarm=True
            ),
        )
        acknowledge(
            group,
            "AwsSolutions-IAM4",
            "AWSCodeDeployRoleForLambdaLimited is the AWS-maintained least-privilege policy "
            "for CodeDeploy shifting a Lambda alias (alarms, alias, hooks named "
            "CodeDeployHook_*); the permissions boundary still caps it.",
            findings=[
                "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSCodeDeployRoleForLambdaLimited"
            ],
        )


def _cfn(construct: Construct) -> cdk.CfnElement:
    child = construct.node.default_child
    if not isinstance(child, cdk.CfnElement):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource")
    return child
