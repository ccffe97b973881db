"""What pages the on-call for the validation services, and what rolls a canary back.

Every alarm goes to one SNS topic of the validation stack (e-mail when the deployment
names an address). The 5xx alarm is also the CodeDeploy deployment group's: a new
version that fails requests while it takes its canary share is rolled back by it.

CloudFront publishes its metrics in us-east-1 only, and an alarm cannot watch another
region's metrics, so the distribution's 5xx rate is alarmed here only when the stack
itself is in us-east-1; elsewhere the origin's own 5xx (function errors and the
Function URL's 5xx, in this region) is what this stack can see.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import Duration
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs.alarm_topic import alarm_topic

# docs/ocsp.md "When the store stops answering": the lines feed_health.py logs.
FEED_STALE: Final = "status feed stale"  # remembered statuses are no longer signed
FEED_STILL_FAILING: Final = "status feed still failing"  # once a minute while it fails

# Percent of requests answered 5xx (function errors or the URL's 5xx) over a minute, two
# minutes running: an OCSP error makes soft-fail clients accept what they asked about,
# so even 1% is worth a page, and two minutes is well inside a 5-minute canary.
FIVE_XX_PERCENT: Final = 1.0
# p99 of the function's duration: a cached answer takes milliseconds and a cold start
# about 0.3 s (bench/RESULTS.md); above a second for 15 minutes the store or the signer
# is slow, and OCSP clients (a few seconds of budget) start to give up.
P99_MILLISECONDS: Final = 1000


class ValidationAlarms(Construct):
    """The topic and the alarms; ``five_xx`` is the canary's rollback alarm."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        alias: lambda_.Alias,
        log_group: logs.ILogGroup,
        distribution: cloudfront.Distribution,
        env_name: str,
        alarm_email: str | None,
        watch_distribution: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        # Per environment: two environments in one account must not add up their counts.
        self._namespace = f"certsight/{env_name}/validation"
        self.topic = alarm_topic(
            self, module="validation", alarm_email=alarm_email, construct_id="Topic"
        )

        self.five_xx = self._alarm(
            "FiveXx",
            "OCSP/CRL origin: 1% or more of requests failed (function errors or URL 5xx)",
            cloudwatch.MathExpression(
                expression="IF(invocations > 0, 100 * (FILL(errors, 0) + FILL(url5xx, 0)) "
                "/ invocations, 0)",
                using_metrics={
                    "invocations": alias.metric_invocations(),
                    "errors": alias.metric_errors(),
                    "url5xx": alias.metric("Url5xxCount", statistic="Sum"),
                },
                period=Duration.minutes(1),
                label="5xx percent",
            ),
            threshold=FIVE_XX_PERCENT,
            periods=2,
        )
        self.latency = self._alarm(
            "Latency",
            "OCSP/CRL origin: p99 duration above a second for 15 minutes",
            alias.metric_duration(statistic="p99", period=Duration.minutes(5)),
            threshold=P99_MILLISECONDS,
            periods=3,
        )
        self.throttles = self._alarm(
            "Throttles",
            "OCSP/CRL origin: requests throttled (reserved concurrency reached)",
            function.metric_throttles(statistic="Sum", period=Duration.minutes(1)),
            threshold=1,
            periods=1,
        )
        self.feed_stale = self._alarm(
            "FeedStale",
            "OCSP: the status change feed is stale; remembered statuses are no longer "
            "signed (docs/ocsp.md, When the store stops answering)",
            self._log_count(log_group, "FeedStaleFilter", "StatusFeedStale", FEED_STALE),
            threshold=1,
            periods=1,
        )
        self.feed_failing = self._alarm(
            "FeedFailing",
            "OCSP: the status change feed keeps failing (revocations are not seen)",
            self._log_count(
                log_group, "FeedFailingFilter", "StatusFeedStillFailing", FEED_STILL_FAILING
            ),
            threshold=1,
            periods=1,
        )
        self.distribution_five_xx: cloudwatch.Alarm | None = None
        if watch_distribution:
            self.distribution_five_xx = self._alarm(
                "DistributionFiveXx",
                "OCSP/CRL CDN: 1% or more of viewer requests answered 5xx",
                cloudwatch.Metric(
                    namespace="AWS/CloudFront",
                    metric_name="5xxErrorRate",
                    dimensions_map={
                        "DistributionId": distribution.distribution_id,
                        "Region": "Global",
                    },
                    statistic="Average",
                    period=Duration.minutes(5),
                ),
                threshold=FIVE_XX_PERCENT,
                periods=2,
            )

    def _alarm(
        self,
        construct_id: str,
        description: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        periods: int,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            # No requests, no data: an idle responder is not a failing one.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        action = cw_actions.SnsAction(self.topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        return alarm

    def _log_count(
        self, log_group: logs.ILogGroup, construct_id: str, metric_name: str, phrase: str
    ) -> cloudwatch.IMetric:
        """A count of the function's log lines holding ``phrase`` (one per line)."""
        metric_filter = logs.MetricFilter(
            self,
            construct_id,
            log_group=log_group,
            filter_pattern=logs.FilterPattern.literal(f'"{phrase}"'),
            metric_namespace=self._namespace,
            metric_name=metric_name,
            metric_value="1",
        )
        return metric_filter.metric(statistic="Sum", period=Duration.minutes(1))
