"""RAW -> LAKE: S3 ObjectCreated notifications, an SQS queue, the ingest function.

The handler (``ingest/lambda_handler.py``) reads one batch of notifications as one
ingest run and reports the messages it could not use in ``batchItemFailures``, so the
event source reports item failures and SQS retries only those, then dead-letters them.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.assets import UnitCode
from infra.constructs.analytics_storage import INGESTED_PREFIXES, LAKE_PREFIX, nag_resource
from infra.guardrails import acknowledge
from infra.naming import function_name, log_group_name

# The ingest waits up to 10 minutes for the LAKE lock (docs/lake.md, "One writer at a
# time": the warehouse job's retention holds it partition by partition), then reads its
# batch: Lambda's maximum leaves room for both.
INGEST_TIMEOUT: Final = Duration.minutes(15)
# pyarrow's CSV reader peaks at about 1.1 GiB for 2 million lines (bench/RESULTS.md) and
# stages every 200,000 rows, whatever the batch; 3008 MB leaves twice that and buys about
# two vCPUs, which the reader's parse-ahead thread uses.
INGEST_MEMORY_MB: Final = 3008
# AWS's rule for SQS event sources: at least six times the function's timeout, so that a
# batch being retried or throttled is not handed out again while it still runs.
VISIBILITY_FACTOR: Final = 6
# Five receives before the DLQ: throttles (reserved concurrency 1) count as receives too.
MAX_RECEIVES: Final = 5
# Up to 100 objects per run, gathered for a minute: fewer runs, fewer manifests to fold.
BATCH_SIZE: Final = 100
BATCH_WINDOW: Final = Duration.minutes(1)


class IngestPipeline(Construct):
    """Notifications from RAW's ingested prefixes to the ingest function, with a DLQ."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        unit: UnitCode,
        raw_bucket: s3.Bucket,
        lake_bucket: s3.Bucket,
    ) -> None:
        super().__init__(scope, construct_id)

        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            queue_name=function_name(env_name, "ingest-dlq"),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            self.dead_letters,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter queue of the ingest queue; its messages "
            "wait here for an operator, not for another retry.",
        )
        # SQS-managed encryption: S3 notifications cannot use the aws/sqs managed key.
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=function_name(env_name, "ingest"),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(VISIBILITY_FACTOR * INGEST_TIMEOUT.to_seconds()),
            retention_period=Duration.days(14),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letters, max_receive_count=MAX_RECEIVES
            ),
        )
        for prefix in INGESTED_PREFIXES:
            raw_bucket.add_event_notification(
                s3.EventType.OBJECT_CREATED,
                s3n.SqsDestination(self.queue),
                s3.NotificationKeyFilter(prefix=prefix),
            )

        self._acknowledge_notification_handler()

        log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=log_group_name(env_name, "ingest"),
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.RETAIN,
        )
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="certsight ingest: reads RAW, writes the LAKE",
        )
        log_group.grant_write(role)
        self._grant_data(role, raw_bucket, lake_bucket)

        self.lake_uri = f"s3://{lake_bucket.bucket_name}/{LAKE_PREFIX}"
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name(env_name, "ingest"),
            code=unit.code,
            handler=unit.handler,
            runtime=unit.runtime,
            architecture=unit.architecture,
            role=role,
            timeout=INGEST_TIMEOUT,
            memory_size=INGEST_MEMORY_MB,
            # One writer at a time: every run takes the LAKE lock, so a second concurrent
            # run would only wait for it (billed) and then fail its batch. One instance
            # takes the batches in turn instead.
            reserved_concurrent_executions=1,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            environment={"CERTSIGHT_LAKE": self.lake_uri},
            description="certsight ingest: RAW objects into the Parquet LAKE",
        )
        self.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=BATCH_SIZE,
                max_batching_window=BATCH_WINDOW,
                report_batch_item_failures=True,
            )
        )
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "The runtime is the one the unit zip was compiled for (its manifest says "
            "which): its bytecode and cp311 wheels load in no other Python version.",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "X-Ray accepts trace segments only on Resource '*'; the ingest reads and "
            "writes any object key under its own RAW and LAKE prefixes.",
            findings=[
                "Resource::*",
                *(nag_resource(raw_bucket, f"{prefix}*") for prefix in INGESTED_PREFIXES),
                nag_resource(lake_bucket, f"{LAKE_PREFIX}/*"),
                "Action::kms:GenerateDataKey*",
                "Action::kms:ReEncrypt*",
            ],
        )

    def _acknowledge_notification_handler(self) -> None:
        """CDK configures RAW's notifications through a custom resource function of its
        own, one per stack, created by ``add_event_notification``."""
        stack = Stack.of(self)
        for child in stack.node.children:
            if child.node.id.startswith("BucketNotificationsHandler"):
                acknowledge(
                    child,
                    "AwsSolutions-IAM4",
                    "CDK's bucket notification handler only writes its own logs with "
                    "the basic execution policy; it runs at deployment, never on data.",
                    findings=[
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                        "AWSLambdaBasicExecutionRole"
                    ],
                )

    @staticmethod
    def _grant_data(role: iam.Role, raw_bucket: s3.Bucket, lake_bucket: s3.Bucket) -> None:
        """RAW read-only (its prefixes), the LAKE read/write (its prefix, its key).

        Listing is needed on both: a missing RAW key is told from a forbidden one by the
        listing, and the LAKE's manifests and partitions are found by listing."""
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"], resources=[raw_bucket.bucket_arn, lake_bucket.bucket_arn]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[raw_bucket.arn_for_objects(f"{p}*") for p in INGESTED_PREFIXES],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                resources=[lake_bucket.arn_for_objects(f"{LAKE_PREFIX}/*")],
            )
        )
        if lake_bucket.encryption_key is not None:
            lake_bucket.encryption_key.grant_encrypt_decrypt(role)
