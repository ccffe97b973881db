"""A stack's alarm topic: what pages the on-call for that module.

Encrypted with a key of its own, because CloudWatch cannot publish to a topic under the
AWS-managed ``aws/sns`` key (its policy does not admit CloudWatch, and alarms would
fail to notify without an error anyone sees); TLS-only; e-mail when the deployment
names an address.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


def alarm_topic(
    scope: Construct, *, module: str, alarm_email: str | None, construct_id: str = "AlarmTopic"
) -> sns.Topic:
    """The module's alarm topic and its key (``{construct_id}Key``)."""
    key = kms.Key(
        scope,
        f"{construct_id}Key",
        description=f"certsight {module}: encrypts the alarm topic",
        enable_key_rotation=True,
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchAlarmsPublish",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": cdk.Stack.of(scope).account}},
        )
    )
    topic = sns.Topic(
        scope,
        construct_id,
        display_name=f"certsight {module} alarms",
        master_key=key,
        enforce_ssl=True,
    )
    if alarm_email:
        topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
    return topic
