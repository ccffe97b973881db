"""The publishing module in AWS: trust stores, agent releases and the CA certificates,
served from a private S3 bucket through a CloudFront distribution of its own.

Three principals, each with the least it needs:

- the **publishing pipeline** (GitHub Actions, OIDC) runs ``certsight publish sync
  s3://BUCKET``: the TUF repository and the agent releases are signed outside AWS (the
  root key is offline, the online keys stay in the pipeline's secret store), so AWS
  only ever holds signed, public files;
- the **publishing function**, on EventBridge Scheduler, writes the CA certificates
  under ``ca/`` from a PKI folder that holds certificates only (a Lambda layer at
  ``/opt/certsight-pki``, see ``infra.constructs.pki_layers``); ``publish sync`` uploads the
  same bytes there from ``HOME/publish/ca/`` (both come from
  ``publishing.cacerts``), so the two writers agree;
- **CloudFront** reads through origin access control; nobody else reads the bucket.

The bucket root is the site root (no origin path): ``/tuf/metadata/timestamp.json`` is
the key ``tuf/metadata/timestamp.json`` and ``/ca/root-ca.crt`` is ``ca/root-ca.crt``,
so the paths in CloudFront's logs are the ones ``ingest.formats.published_paths``
reads.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.assets import unit_code
from infra.config import DeployConfig
from infra.constructs.pki_layers import CA_CERTIFICATES, PKI_DIR, stage_ca_certificates
from infra.guardrails import acknowledge
from infra.naming import (
    CDN_LOG_BUCKET,
    PUBLISHING_BUCKET,
    function_name,
    log_group_name,
    shared,
)
from infra.stacks.base import ModuleStack

MODULE = "publishing"

# The deployment's CA certificates (root-ca.pem, issuing-ca.pem): DIST/publishing-pki
# (DeployConfig.pki_bundle). Pointing it at a whole HOME/pki is safe: only the two
# certificates are taken (infra.constructs.pki_layers.stage_ca_certificates).
CA_CERTIFICATE_FOLDER = "publishing-pki"
CA_PREFIX = "ca"  # the function writes ca/<name>.crt, the caIssuers URLs' path
LOG_PREFIX = "cloudfront/publishing/"  # under the analytics stack's CDN log bucket
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
PIPELINE_ENVIRONMENT = "publishing"

# Objects that change in place (timestamp.json, the plain copies, ca/*) become noncurrent
# versions when overwritten: a daily timestamp gives one a day. Clients never read a
# noncurrent version (CloudFront fetches the current one and an edge keeps it at most
# the 60 s of its Cache-Control), so what the versions buy is recovery and audit: a
# month lets an operator restore what was served before a bad sync, long after it was
# noticed, and is longer than the snapshot's 14-day validity (older metadata could not
# be served again anyway). Hashed targets and versioned metadata are never overwritten.
NONCURRENT_VERSION_DAYS = 30


def ca_certificate_folder(config: DeployConfig) -> Path:
    return config.pki_bundle("publishing")


class PublishingStack(ModuleStack):
    """The publishing bucket, its distribution, the CA certificate job and the role the
    publishing pipeline syncs with."""

    def __init__(self, scope: Construct, config: DeployConfig) -> None:
        super().__init__(
            scope,
            config,
            MODULE,
            description="certsight publishing: trust stores, agent releases (TUF) and CA "
            "certificates on S3 behind CloudFront",
        )
        self.config = config
        self.bucket = self._bucket()
        self.distribution = self._distribution()
        self.function = self._publishing_job()
        self.pipeline_role = self._pipeline_role()
        self._outputs()

    # -- storage -------------------------------------------------------------------
    def _bucket(self) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "PublishingBucket",
            # S3-managed keys: everything here is public (signed TUF files, trust stores,
            # CA certificates), so a customer key would protect nothing; it would only
            # make CloudFront's reads need a key policy and turn ETags into non-MD5s.
            encryption=s3.BucketEncryption.S3_MANAGED,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="noncurrent-versions",
                    noncurrent_version_expiration=cdk.Duration.days(NONCURRENT_VERSION_DAYS),
                    expired_object_delete_marker=True,
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
                )
            ],
        )
        acknowledge(
            bucket,
            "AwsSolutions-S1",
            "Every read is made by CloudFront through origin access control, and its "
            "standard logs land in RAW under cloudfront/publishing/; the only writers "
            "are two roles of this stack, whose calls CloudTrail records. Server access "
            "logs would repeat CloudFront's logs and need another unencrypted bucket.",
        )
        ssm.StringParameter(
            self,
            "PublishingBucketParameter",
            parameter_name=shared(self.config.env_name, PUBLISHING_BUCKET),
            string_value=bucket.bucket_name,
            description="certsight publishing bucket (served by the publishing CDN)",
        )
        return bucket

    # -- the CDN -------------------------------------------------------------------
    def _distribution(self) -> cloudfront.Distribution:
        config = self.config
        cache_policy = cloudfront.CachePolicy(
            self,
            "CachePolicy",
            comment="certsight publishing: the object's own Cache-Control decides",
            # min 0: an object saying max-age=60 (timestamp.json) is kept 60 s, not
            # longer. default 60 s: objects without Cache-Control (the function's ca/*
            # files) change in place, like the ones publish sync marks max-age=60. max a
            # year: hashed targets and versioned metadata say immutable for that long.
            min_ttl=cdk.Duration.seconds(0),
            default_ttl=cdk.Duration.seconds(60),
            max_ttl=cdk.Duration.days(365),
            # The key is the path alone: no file varies by header, cookie or query.
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.none(),
            # JSON metadata and PEM files compress well; CloudFront leaves zips and
            # DER (not on its compressible list) alone.
            enable_accept_encoding_gzip=True,
            enable_accept_encoding_brotli=True,
        )
        log_bucket = s3.Bucket.from_bucket_attributes(
            self,
            "CdnLogBucket",
            bucket_name=ssm.StringParameter.value_for_string_parameter(
                self, shared(config.env_name, CDN_LOG_BUCKET)
            ),
            region=self.region,
        )
        certificate = (
            acm.Certificate.from_certificate_arn(self, "CdnCertificate", config.cdn_certificate_arn)
            if config.cdn_certificate_arn is not None
            else None
        )
        distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"certsight {config.env_name} publishing",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                # TUF metadata is signed, but trust stores and install.sh are fetched
                # by scripts that trust the transport: never over plain HTTP.
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cache_policy,
                compress=True,
            ),
            # Clients probe the next N.root.json on every refresh and get a 403 (the
            # origin grants no listing) until a new root exists: keep misses brief.
            error_responses=[
                cloudfront.ErrorResponse(http_status=status, ttl=cdk.Duration.seconds(10))
                for status in (403, 404)
            ],
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_logging=True,
            log_bucket=log_bucket,
            log_file_prefix=LOG_PREFIX,
            log_includes_cookies=False,
            certificate=certificate,
            domain_names=[config.hostname(MODULE)] if certificate is not None else None,
        )
        acknowledge(
            distribution,
            "AwsSolutions-CFR1",
            "Trust stores, CA certificates and agent releases are fetched by relying "
            "parties and endpoints in any country, so no geography can be excluded.",
        )
        acknowledge(
            distribution,
            "AwsSolutions-CFR2",
            "The origin is a private bucket of signed static files read through origin "
            "access control, with no compute or form to protect; WAF for CloudFront "
            "lives in us-east-1 and Shield Standard covers volumetric attacks.",
        )
        if not config.custom_names:
            acknowledge(
                distribution,
                "AwsSolutions-CFR4",
                "Without a configured certificate the distribution can only use the "
                "default cloudfront.net certificate, whose TLS policy CloudFront fixes; "
                "production sets cdn_certificate_arn and gets TLSv1.2_2021.",
            )
        if config.custom_names and config.hosted_zone_id is not None:
            zone = route53.HostedZone.from_hosted_zone_attributes(
                self, "Zone", hosted_zone_id=config.hosted_zone_id, zone_name=config.domain
            )
            target = route53.RecordTarget.from_alias(targets.CloudFrontTarget(distribution))
            record_name = config.hostname(MODULE)
            route53.ARecord(self, "AliasA", zone=zone, record_name=record_name, target=target)
            route53.AaaaRecord(self, "AliasAaaa", zone=zone, record_name=record_name, target=target)
        return distribution

    # -- the CA certificate job ------------------------------------------------------
    def _publishing_job(self) -> lambda_.Function:
        config = self.config
        unit = unit_code(config.dist, MODULE)
        fn_name = function_name(config.env_name, MODULE)
        log_group = logs.LogGroup(
            self,
            "FunctionLogs",
            log_group_name=log_group_name(config.env_name, MODULE),
            # A few lines an hour saying which CA certificates were written when: a
            # PKI audit record worth a year, at no noticeable cost.
            retention=logs.RetentionDays.ONE_YEAR,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        role = iam.Role(
            self,
            "FunctionRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="certsight publishing function: writes the CA certificates under ca/",
        )
        # Read and write ca/ only (reads compare, so an unchanged file is not rewritten);
        # no delete, no other prefix. ListBucket makes a missing object answer 404
        # rather than 403, which the first run needs: the bucket is public content.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[self.bucket.arn_for_objects(f"{CA_PREFIX}/*")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn])
        )
        log_group.grant_write(role)
        source = ca_certificate_folder(config)
        staged = stage_ca_certificates(source)
        layers = []
        if staged is None:
            # The bucket, the CDN and the pipeline are useful without it: deploy the job
            # switched off rather than failing every hour, and say so at synthesis.
            cdk.Annotations.of(self).add_warning_v2(
                "certsight:publishing:no-ca-certificates",
                f"no CA certificates at {source}: the publishing job is deployed with its "
                "schedule disabled; add root-ca.pem and issuing-ca.pem there and deploy "
                "again",
            )
        else:
            layers.append(
                lambda_.LayerVersion(
                    self,
                    "CaCertificates",
                    code=lambda_.Code.from_asset(str(staged)),
                    compatible_runtimes=[unit.runtime],
                    compatible_architectures=[unit.architecture],
                    description="certsight CA certificates (public): " + ", ".join(CA_CERTIFICATES),
                )
            )
        function = lambda_.Function(
            self,
            "Function",
            function_name=fn_name,
            description="certsight publishing: writes the CA certificates for relying parties",
            code=unit.code,
            handler=unit.handler,
            runtime=unit.runtime,
            architecture=unit.architecture,
            role=role,
            layers=layers,
            # 256 MB: importing cryptography and Powertools is the bulk of the work;
            # more memory buys CPU for the cold start. 60 s: four small S3 reads and at
            # most four writes take a second or two; the rest is slack for S3 retries.
            memory_size=256,
            timeout=cdk.Duration.seconds(60),
            # One run at a time: a scheduled run and a manual one never race on ca/.
            reserved_concurrent_executions=1,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            environment={
                "CERTSIGHT_PKI_DIR": PKI_DIR,
                "CERTSIGHT_PUBLISH": f"s3://{self.bucket.bucket_name}/{CA_PREFIX}",
            },
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "The function writes the CA files under the ca/ prefix of this one bucket "
            "(their names come from the CA), and X-Ray accepts trace segments only on "
            "the resource wildcard.",
            findings=[
                f"Resource::<{self.get_logical_id(self._cfn(self.bucket))}.Arn>/{CA_PREFIX}/*",
                "Resource::*",
            ],
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            "The runtime is the one the unit zip's bytecode and wheels were built for "
            "(its manifest says which); a newer runtime needs a new zip, not a setting.",
        )
        self._schedule(function, enabled=staged is not None)
        return function

    def _schedule(self, function: lambda_.Function, *, enabled: bool) -> None:
        config = self.config
        schedule_name = function_name(config.env_name, MODULE)
        role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": self.account},
                    "ArnLike": {
                        "aws:SourceArn": self.format_arn(
                            service="scheduler",
                            resource="schedule",
                            resource_name=f"default/{schedule_name}",
                        )
                    },
                },
            ),
            description="EventBridge Scheduler: invokes the certsight publishing function",
        )
        # The function's own ARN only (grant_invoke would add every version, ":*").
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[function.function_arn]
            )
        )
        scheduler.CfnSchedule(
            self,
            "Schedule",
            name=schedule_name,
            description="certsight: publish the CA certificates (writes only what changed)",
            # Hourly: a CA change deployed with this stack reaches ca/ within the hour,
            # and a ca/ object overwritten by mistake is restored as quickly. A run that
            # finds nothing changed writes nothing, so the cost is 24 short invocations
            # a day.
            schedule_expression="rate(1 hour)",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED" if enabled else "DISABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=function.function_arn,
                role_arn=role.role_arn,
                input='{"source": "certsight.schedule"}',
                # Retried within the hour; the next run repairs anything left undone.
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_event_age_in_seconds=3600, maximum_retry_attempts=3
                ),
            ),
        )

    # -- the publishing pipeline -----------------------------------------------------
    def _pipeline_role(self) -> iam.Role:
        config = self.config
        provider = iam.OpenIdConnectProvider.from_open_id_connect_provider_arn(
            self,
            "GithubOidc",
            f"arn:aws:iam::{self.account}:oidc-provider/{GITHUB_OIDC_HOST}",
        )
        repository = config.github_repository
        role = iam.Role(
            self,
            "PipelineRole",
            assumed_by=iam.WebIdentityPrincipal(
                provider.open_id_connect_provider_arn,
                conditions={
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com",
                        # A job on main, or a job of the publishing environment (whose
                        # protection rules decide who may run it); never a fork's or
                        # a pull request's.
                        f"{GITHUB_OIDC_HOST}:sub": [
                            f"repo:{repository}:ref:refs/heads/main",
                            f"repo:{repository}:environment:{PIPELINE_ENVIRONMENT}",
                        ],
                    }
                },
            ),
            description="certsight publishing pipeline: publish sync to the bucket, CDN "
            "invalidations",
            max_session_duration=cdk.Duration.hours(1),
        )
        # What publish sync calls: list the prefix, read (head) to compare, write.
        # Never delete: the sync does not, and a leaked token must not empty the site.
        role.add_to_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[self.bucket.arn_for_objects("*")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudfront:CreateInvalidation"],
                resources=[self.distribution.distribution_arn],
            )
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "publish sync writes the whole site: TUF targets and metadata, trust stores, "
            "docs, named by content hash at publish time, all in this one bucket.",
            findings=[f"Resource::<{self.get_logical_id(self._cfn(self.bucket))}.Arn>/*"],
        )
        return role

    @staticmethod
    def _cfn(bucket: s3.Bucket) -> s3.CfnBucket:
        child = bucket.node.default_child
        assert isinstance(child, s3.CfnBucket)
        return child

    def _outputs(self) -> None:
        domain = self.distribution.distribution_domain_name
        url = (
            f"https://{self.config.hostname(MODULE)}"
            if self.config.custom_names
            else f"https://{domain}"
        )
        cdk.CfnOutput(self, "BucketName", value=self.bucket.bucket_name)
        cdk.CfnOutput(
            self,
            "SyncLocation",
            value=f"s3://{self.bucket.bucket_name}",
            description="certsight publish sync destination (the bucket root is the site root)",
        )
        cdk.CfnOutput(self, "DistributionId", value=self.distribution.distribution_id)
        cdk.CfnOutput(self, "DistributionDomainName", value=domain)
        cdk.CfnOutput(self, "Url", value=url, description="where clients fetch")
        cdk.CfnOutput(self, "PipelineRoleArn", value=self.pipeline_role.role_arn)
