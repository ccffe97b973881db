"""The issuance stack's alarms: API 5xx, function errors, CRLs that were not signed."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import DeployConfig
from infra.constructs.alarm_topic import alarm_topic
from infra.constructs.issuance_api import IssuanceApi


def issuance_alarms(
    scope: Construct,
    config: DeployConfig,
    api: IssuanceApi,
    functions: Sequence[lambda_.Function],
    failures: sqs.Queue,
) -> sns.Topic:
    """API 5xx, function errors and unsigned CRLs to the module's alarm topic."""
    topic = alarm_topic(scope, module="issuance", alarm_email=config.alarm_email)
    action = actions.SnsAction(topic)
    five_minutes = cdk.Duration.minutes(5)

    def alarm(construct_id: str, metric: cloudwatch.IMetric, threshold: int, what: str) -> None:
        made = cloudwatch.Alarm(
            scope,
            construct_id,
            alarm_description=what,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        made.add_alarm_action(action)

    alarm(
        "Api5xxAlarm",
        api.api.metric_server_error(period=five_minutes, statistic="Sum"),
        5,
        "issuance API: 5xx answers (function failing, timing out or throttled)",
    )
    for function, label in zip(functions, ("Api", "CrlUpdater"), strict=True):
        alarm(
            f"{label}ErrorsAlarm",
            function.metric_errors(period=five_minutes, statistic="Sum"),
            1,
            f"{function.node.id}: invocations that failed",
        )
    alarm(
        "CrlFailuresAlarm",
        failures.metric_approximate_number_of_messages_visible(period=five_minutes),
        1,
        "CRL updater: a scheduled run or a revocation whose CRL was not signed",
    )
    return topic
