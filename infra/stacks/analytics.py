"""certsight analytics: RAW -> LAKE -> warehouse -> alerts and reports, in AWS.

Logs arrive in RAW (CloudFront standard logs from the CDN stacks, the responders'
records through CloudWatch Logs and Firehose); S3 notifications drive the ingest function
into the Parquet LAKE (Glue tables and an Athena workgroup over it); a scheduled Fargate
task applies retention, builds the warehouse, delivers alerts to SNS and writes reports.

Deploy order: this stack first. It writes the SSM parameters the others read (RAW's
name for the CDN logs; the Firehose stream and the role that the validation and
issuance stacks subscribe their function log groups with,
``infra.constructs.raw_subscription``), and it needs nothing of theirs.
"""

from __future__ import annotations

from typing import Final

import aws_cdk as cdk
from aws_cdk import RemovalPolicy
from aws_cdk import aws_athena as athena
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.assets import unit_code
from infra.config import DeployConfig
from infra.constructs.alarm_topic import alarm_topic
from infra.constructs.analytics_ingest import IngestPipeline
from infra.constructs.analytics_log_shipping import ResponderLogShipping
from infra.constructs.analytics_storage import (
    ATHENA_RESULTS_PREFIX,
    LAKE_PREFIX,
    AnalyticsStorage,
)
from infra.constructs.analytics_warehouse_job import WarehouseJob
from infra.constructs.lake_catalog import LakeCatalog, lake_database_name
from infra.naming import (
    ALERTS_TOPIC,
    CDN_LOG_BUCKET,
    LAKE_BUCKET,
    LOG_DELIVERY_STREAM,
    LOG_SUBSCRIPTION_ROLE,
    RAW_BUCKET,
    function_name,
    shared,
)
from infra.stacks.base import ModuleStack

# A query may scan at most 100 GB (50 cents at Athena's price): many times a month of
# the benchmark's traffic in Parquet, and a stop for a query that forgot its dt filter
# on years of it.
BYTES_SCANNED_CUTOFF: Final = 100 * 1000**3


class AnalyticsStack(ModuleStack):
    """Every analytics resource of one environment (issue 15)."""

    def __init__(self, scope: Construct, config: DeployConfig) -> None:
        super().__init__(
            scope,
            config,
            "analytics",
            description="certsight analytics: RAW and LAKE buckets, ingest, Athena, "
            "the warehouse job and alerts",
        )
        env_name = config.env_name

        self.storage = AnalyticsStorage(self, "Storage", retention=config.retention)
        raw, lake = self.storage.raw, self.storage.lake

        self.log_shipping = ResponderLogShipping(
            self, "ResponderLogs", env_name=env_name, raw_bucket=raw
        )
        self.ingest = IngestPipeline(
            self,
            "Ingest",
            env_name=env_name,
            unit=unit_code(config.dist, "ingest"),
            raw_bucket=raw,
            lake_bucket=lake,
        )

        self.catalog = LakeCatalog(
            self,
            "Lake",
            lake_bucket=lake,
            prefix=LAKE_PREFIX,
            database_name=lake_database_name(env_name),
        )
        self.workgroup = self._workgroup(env_name)

        self.alerts_topic = self._alerts_topic(config)
        self.alarm_topic = self._alarms(config)
        self.job = WarehouseJob(
            self,
            "WarehouseJob",
            config=config,
            raw_bucket=raw,
            lake_bucket=lake,
            audit_bucket=self.storage.access_logs,
            alerts_topic=self.alerts_topic,
        )

        # The CDN stacks log into RAW: it is also the CloudFront log bucket.
        for what, value in (
            (RAW_BUCKET, raw.bucket_name),
            (CDN_LOG_BUCKET, raw.bucket_name),
            (LAKE_BUCKET, lake.bucket_name),
            (ALERTS_TOPIC, self.alerts_topic.topic_arn),
        ):
            self._publish(shared(env_name, what), value)
        self._publish(shared(env_name, LOG_DELIVERY_STREAM), self.log_shipping.stream.attr_arn)
        self._publish(
            shared(env_name, LOG_SUBSCRIPTION_ROLE),
            self.log_shipping.subscription_role.role_arn,
        )

        for output_id, value, description in (
            ("RawBucketName", raw.bucket_name, "RAW: CDN and responder logs"),
            ("LakeBucketName", lake.bucket_name, f"the LAKE, under {LAKE_PREFIX}/"),
            ("AthenaResultsBucketName", self.storage.results.bucket_name, "query results"),
            ("AthenaWorkGroup", self.workgroup.name, "the Athena workgroup"),
            ("IngestQueueUrl", self.ingest.queue.queue_url, "S3 notifications to ingest"),
            ("IngestDeadLetterQueueUrl", self.ingest.dead_letters.queue_url, "failed ones"),
            ("WarehouseRepositoryUri", self.job.repository.repository_uri, "push here"),
            ("AlertsTopicArn", self.alerts_topic.topic_arn, "alerts (SNS)"),
        ):
            cdk.CfnOutput(self, output_id, value=value, description=description)

    def _publish(self, parameter_name: str, value: str) -> None:
        ssm.StringParameter(
            self,
            parameter_name.strip("/").replace("/", "-"),
            parameter_name=parameter_name,
            string_value=value,
        )

    def _workgroup(self, env_name: str) -> athena.CfnWorkGroup:
        """Enforced settings: every query's results go KMS-encrypted into the results
        bucket and stop at the scan cutoff, whatever the client asks for."""
        storage = self.storage
        return athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=function_name(env_name, "analytics"),
            description="certsight: queries over the LAKE's Glue tables",
            state="ENABLED",
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=BYTES_SCANNED_CUTOFF,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="AUTO"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{storage.results.bucket_name}/{ATHENA_RESULTS_PREFIX}",
                    expected_bucket_owner=self.account,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=storage.lake_key.key_arn
                    ),
                ),
            ),
        )

    def _alarms(self, config: DeployConfig) -> sns.Topic:
        """The operators' alarms (not the detectors' alerts, which have their own topic):
        RAW objects the ingest gave up on, and ingest runs that failed."""
        topic = alarm_topic(self, module="analytics", alarm_email=config.alarm_email)
        action = cloudwatch_actions.SnsAction(topic)
        five_minutes = cdk.Duration.minutes(5)
        for construct_id, metric, what in (
            (
                "DeadLettersAlarm",
                self.ingest.dead_letters.metric_approximate_number_of_messages_visible(
                    period=five_minutes
                ),
                "ingest: RAW objects moved to the dead-letter queue after repeated failures "
                "(not in the LAKE until redriven)",
            ),
            (
                "IngestErrorsAlarm",
                self.ingest.function.metric_errors(period=five_minutes, statistic="Sum"),
                "ingest: invocations that failed",
            ),
        ):
            cloudwatch.Alarm(
                self,
                construct_id,
                alarm_description=what,
                metric=metric,
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ).add_alarm_action(action)
        return topic

    def _alerts_topic(self, config: DeployConfig) -> sns.Topic:
        """Alerts carry client addresses in their evidence: a key of their own, and
        publishing over TLS only."""
        key = kms.Key(
            self,
            "AlertsKey",
            description="certsight analytics: the alerts topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        topic = sns.Topic(
            self,
            "Alerts",
            topic_name=function_name(config.env_name, "alerts"),
            display_name="certsight alerts",
            master_key=key,
            enforce_ssl=True,
        )
        if config.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        return topic
