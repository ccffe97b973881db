"""The responders' access-log records, from their CloudWatch Logs groups into RAW.

CloudWatch Logs subscription filters hand the log events to a Firehose delivery stream,
whose built-in processors undo CloudWatch's envelope (GZIP, then the JSON batch with its
control messages) and write each event's message on a line of its own: RAW receives the
Powertools JSON lines exactly as a local responder writes them to its file, gzipped, and
the ingest tells them apart by content (docs/access-logs.md, "Lambda records").

The subscription filters themselves belong to the stacks that own the log groups
(``infra.constructs.raw_subscription``): they read this stream's and role's ARNs from
SSM, so analytics deploys first and never waits for another stack's log groups.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.constructs.analytics_storage import (
    FIREHOSE_ERROR_PREFIX,
    LAMBDA_PREFIX,
    nag_resource,
)
from infra.guardrails import acknowledge
from infra.naming import function_name

# Five minutes or 64 MiB per object: a dozen objects an hour per stream, so the ingest
# runs on few, larger objects; the warehouse job runs every 15 minutes anyway.
BUFFER_SECONDS: Final = 300
BUFFER_MIB: Final = 64


class ResponderLogShipping(Construct):
    """A Firehose stream into RAW and the role CloudWatch Logs assumes to feed it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        raw_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        stream_name = function_name(env_name, "responder-logs")

        errors = logs.LogGroup(
            self,
            "DeliveryErrors",
            log_group_name=f"/aws/kinesisfirehose/{stream_name}",
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.RETAIN,
        )
        error_stream = logs.LogStream(
            self, "DeliveryErrorStream", log_group=errors, log_stream_name="S3Delivery"
        )

        delivery_role = iam.Role(
            self,
            "DeliveryRole",
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com",
                conditions={"StringEquals": {"sts:ExternalId": Aws.ACCOUNT_ID}},
            ),
            description="Firehose writes the responders' log records into RAW",
        )
        writes = [f"{LAMBDA_PREFIX}*", f"{FIREHOSE_ERROR_PREFIX}*"]
        delivery_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[raw_bucket.bucket_arn],
            )
        )
        delivery_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                resources=[raw_bucket.arn_for_objects(key) for key in writes],
            )
        )
        errors.grant_write(delivery_role)
        acknowledge(
            delivery_role,
            "AwsSolutions-IAM5",
            "Firehose names its objects by time and a random suffix, so it may write any "
            "key below its two RAW prefixes and nothing else.",
            findings=[nag_resource(raw_bucket, key) for key in writes],
        )

        self.stream = firehose.CfnDeliveryStream(
            self,
            "Stream",
            delivery_stream_name=stream_name,
            delivery_stream_type="DirectPut",
            delivery_stream_encryption_configuration_input=firehose.CfnDeliveryStream.DeliveryStreamEncryptionConfigurationInputProperty(
                key_type="AWS_OWNED_CMK"
            ),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=raw_bucket.bucket_arn,
                role_arn=delivery_role.role_arn,
                # RAW/lambda/YYYY/MM/DD/HH/<stream>-<n>-<time>-<uuid>.jsonl.gz: no part
                # starts with "." or ends in ".tmp", so ingest/sources.py lists them.
                prefix=f"{LAMBDA_PREFIX}!{{timestamp:yyyy/MM/dd/HH}}/",
                error_output_prefix=(
                    f"{FIREHOSE_ERROR_PREFIX}!{{firehose:error-output-type}}/"
                    "!{timestamp:yyyy/MM/dd}/"
                ),
                compression_format="GZIP",
                file_extension=".jsonl.gz",
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=BUFFER_SECONDS, size_in_m_bs=BUFFER_MIB
                ),
                processing_configuration=firehose.CfnDeliveryStream.ProcessingConfigurationProperty(
                    enabled=True,
                    processors=[
                        _processor("Decompression", CompressionFormat="GZIP"),
                        _processor("CloudWatchLogProcessing", DataMessageExtraction="true"),
                        _processor("AppendDelimiterToRecord"),
                    ],
                ),
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=errors.log_group_name,
                    log_stream_name=error_stream.log_stream_name,
                ),
            ),
        )
        # The stream checks its role on creation: the policy must be there first.
        policy = delivery_role.node.try_find_child("DefaultPolicy")
        if policy is not None:
            self.stream.node.add_dependency(policy)

        self.subscription_role = iam.Role(
            self,
            "SubscriptionRole",
            assumed_by=iam.ServicePrincipal(
                "logs.amazonaws.com",
                conditions={
                    "StringLike": {
                        "aws:SourceArn": (
                            f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:*"
                        )
                    }
                },
            ),
            description="CloudWatch Logs puts the responders' records into Firehose",
        )
        self.subscription_role.add_to_policy(
            iam.PolicyStatement(
                actions=["firehose:PutRecord", "firehose:PutRecordBatch"],
                resources=[self.stream.attr_arn],
            )
        )


def _processor(kind: str, **parameters: str) -> firehose.CfnDeliveryStream.ProcessorProperty:
    return firehose.CfnDeliveryStream.ProcessorProperty(
        type=kind,
        parameters=[
            firehose.CfnDeliveryStream.ProcessorParameterProperty(
                parameter_name=name, parameter_value=value
            )
            for name, value in parameters.items()
        ]
        or None,
    )
