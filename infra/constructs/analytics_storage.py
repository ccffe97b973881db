"""The analytics buckets: RAW (logs as delivered), the LAKE (Parquet), Athena's results,
and the bucket recording who touched them (S3 server access logs).

RAW and the LAKE hold client addresses as logged, so neither is versioned: a noncurrent
version would keep an address that ``certsight lake retain`` pseudonymised or deleted
(docs/lake.md, "Retention"), and both the ingest (ETags) and the retention (a PUT of the
same key) are built for unversioned buckets. Every bucket is retained on stack deletion.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import Retention
from infra.guardrails import acknowledge
from ingest.pseudonymise import tables_with_addresses

# RAW key prefixes. CloudFront standard logging (legacy) writes under
# cloudfront/<distribution>/ (the validation and publishing stacks choose the rest);
# the responders' CloudWatch Logs arrive through Firehose under lambda/.
CLOUDFRONT_PREFIX: Final = "cloudfront/"
LAMBDA_PREFIX: Final = "lambda/"
FIREHOSE_ERROR_PREFIX: Final = "firehose-errors/"
INGESTED_PREFIXES: Final = (CLOUDFRONT_PREFIX, LAMBDA_PREFIX)

# The LAKE lives under this prefix of its bucket (CERTSIGHT_LAKE=s3://BUCKET/lake); the
# warehouse job's reports beside it.
LAKE_PREFIX: Final = "lake"
REPORTS_PREFIX: Final = "reports"
ATHENA_RESULTS_PREFIX: Final = "athena/"

_ACCESS_LOGS_BY_POLICY: Final = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"

# Query results are working files: a month lets an analyst fetch one again.
ATHENA_RESULTS_DAYS: Final = 30
# S3 server access logs are audit records of who read client addresses: a year.
ACCESS_LOG_DAYS: Final = 365


class AnalyticsStorage(Construct):
    """RAW, LAKE, Athena results and their access-log bucket, with their lifecycles."""

    def __init__(self, scope: Construct, construct_id: str, *, retention: Retention) -> None:
        super().__init__(scope, construct_id)
        # Server access logs are granted by a bucket policy, not the log-delivery ACL,
        # so that the log bucket can keep ACLs disabled (set before any bucket exists).
        self.node.set_context(_ACCESS_LOGS_BY_POLICY, True)

        # S3 server access logging cannot deliver to an SSE-KMS bucket, and a log bucket
        # cannot log to itself: its own reads are in CloudTrail (access stack).
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(ACCESS_LOG_DAYS))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This is the server access log bucket of the analytics buckets; logging it "
            "into itself would loop, and its own data events are in CloudTrail.",
        )

        # S3-managed keys, not a customer key: CloudFront standard logging (legacy)
        # delivers through its log-delivery account, which cannot encrypt with a customer
        # KMS key unless that key grants it, and this bucket is the CDN log bucket.
        # ACLs are enabled (BUCKET_OWNER_PREFERRED) ONLY because that legacy logging
        # grants itself write access through a bucket ACL; public access stays blocked.
        self.raw = s3.Bucket(
            self,
            "Raw",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            versioned=False,
            lifecycle_rules=[
                # certsight lake retain deletes what was ingested after raw_days; this
                # rule is the backstop for what it keeps (never ingested: Firehose error
                # records, objects of a pipeline stalled for raw_days), so that RAW's
                # addresses never outlive the limit. Unlike retain, it does not wait for
                # the ingest: the privacy limit wins over a month-old backlog.
                s3.LifecycleRule(
                    id="raw-days",
                    expiration=Duration.days(retention.raw_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
            ],
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="raw/",
            removal_policy=RemovalPolicy.RETAIN,
        )

        self.lake_key = kms.Key(
            self,
            "LakeKey",
            description="certsight analytics: the LAKE and Athena query results",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.lake = s3.Bucket(
            self,
            "Lake",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.lake_key,
            bucket_key_enabled=True,  # one KMS call per object, not per request
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=False,
            lifecycle_rules=self._lake_rules(retention),
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="lake/",
            removal_policy=RemovalPolicy.RETAIN,
        )

        self.results = s3.Bucket(
            self,
            "AthenaResults",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.lake_key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(ATHENA_RESULTS_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="athena-results/",
            removal_policy=RemovalPolicy.RETAIN,
        )

    @staticmethod
    def _lake_rules(retention: Retention) -> list[s3.LifecycleRule]:
        """``lake_days`` as a backstop on the tables ``certsight lake retain`` ages out.

        Only those tables: the inventory (certificates, revocations, issuers), the
        manifests and the lock are never aged out, and expiring a manifest would make the
        ingest read its objects again. An object's age counts from its last write, which
        is never before its rows' event time, so the rule never deletes a day younger than
        ``lake_days``. The client-address limit (``client_address_days``) is not a
        lifecycle matter: the warehouse job's ``certsight lake retain`` pseudonymises those
        columns in place."""
        rules = [
            s3.LifecycleRule(
                id="abort-incomplete-uploads",
                abort_incomplete_multipart_upload_after=Duration.days(1),
            )
        ]
        if retention.lake_days is not None:
            rules += [
                s3.LifecycleRule(
                    id=f"lake-days-{table.replace('_', '-')}",
                    prefix=f"{LAKE_PREFIX}/{table}/",
                    expiration=Duration.days(retention.lake_days),
                )
                for table in tables_with_addresses()
            ]
        return rules


def nag_resource(bucket: s3.IBucket, key_pattern: str) -> str:
    """How cdk-nag names an object ARN of ``bucket`` in an IAM5 finding
    (``Resource::<LogicalId.Arn>/prefix/*``), so each wildcard is acknowledged by name."""
    stack = Stack.of(bucket)
    resource = bucket.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{bucket.node.path} is not a bucket of this app")
    return f"Resource::<{stack.resolve(stack.get_logical_id(resource))}.Arn>/{key_pattern}"
