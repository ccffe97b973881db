"""What makes the CRL updater run: a schedule, and every revocation in the store.

The schedule keeps CRLs fresh when nothing is revoked (a CRL whose nextUpdate passes is
as bad as no CRL); the certificate table's stream gets a revocation into the CRL within
seconds instead of within the hour. Both hand their failures to one queue, so a CRL
that was not signed is a message somebody sees (and an alarm), not a log line.
"""

from __future__ import annotations

import json
from typing import Any, Final

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from pki.store.base import CertStatus

# Hourly: with CERTSIGHT_CRL_VALIDITY at a day, 23 runs in a row may fail before a
# relying party sees an expired CRL, and the failures alarm fires on the first.
SCHEDULE: Final = "rate(1 hour)"

# A revocation is the store's only write that leaves a certificate item with
# status "revoked" (pki/store/dynamodb.py: ``revoke`` SETs it on the item; ``add`` of an
# already-revoked record INSERTs it). Change-log and counter items carry no status, so
# they never match.
REVOCATION_FILTER: Final[dict[str, Any]] = {
    "eventName": ["INSERT", "MODIFY"],
    "dynamodb": {"NewImage": {"status": {"S": [CertStatus.revoked.value]}}},
}

# The store's revoked-by-issuer index is eventually consistent, and the updater waits
# 5 s (issuance.crl_updater.SETTLE) before trusting it; a stream batch waits for its
# window even with one record, so 10 s means the CRL is signed after the index settled
# and a burst of revocations yields one CRL.
BATCH_WINDOW: Final = Duration.seconds(10)
# Older records are pointless: the hourly run has signed a CRL with them since.
MAX_RECORD_AGE: Final = Duration.hours(1)


class CrlUpdaterTriggers(Construct):
    """EventBridge Scheduler + the table stream's revocations -> the CRL updater."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        role: iam.IRole,
        stream_arn: str,
        failures: sqs.IQueue,
        schedule_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        account = Stack.of(self).account

        self.schedule_role = iam.Role(
            self,
            "ScheduleRole",
            description="EventBridge Scheduler: invoke the CRL updater, nothing else",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": account}},
            ),
        )
        self.schedule_role.add_to_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[function.function_arn]
            )
        )
        failures.grant_send_messages(self.schedule_role)
        self.schedule = scheduler.CfnSchedule(
            self,
            "Schedule",
            name=schedule_name,
            description="certsight: sign every CA's CRL before the current one expires",
            schedule_expression=SCHEDULE,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=function.function_arn,
                role_arn=self.schedule_role.role_arn,
                input=json.dumps({"source": "certsight.schedule"}),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=3, maximum_event_age_in_seconds=900
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=failures.queue_arn
                ),
            ),
        )

        # Lambda checks the role's access to the stream when the mapping is created, so
        # the grant is its own policy and the mapping waits for it.
        stream_read = iam.Policy(
            self,
            "StreamRead",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    actions=[
                        "dynamodb:DescribeStream",
                        "dynamodb:GetRecords",
                        "dynamodb:GetShardIterator",
                    ],
                    resources=[stream_arn],
                ),
                iam.PolicyStatement(actions=["dynamodb:ListStreams"], resources=["*"]),
            ],
        )
        self.mapping = lambda_.EventSourceMapping(
            self,
            "Revocations",
            target=function,
            event_source_arn=stream_arn,
            starting_position=lambda_.StartingPosition.LATEST,
            filters=[lambda_.FilterCriteria.filter(REVOCATION_FILTER)],
            batch_size=100,
            max_batching_window=BATCH_WINDOW,
            bisect_batch_on_error=True,
            retry_attempts=3,
            max_record_age=MAX_RECORD_AGE,
            parallelization_factor=1,
            on_failure=sources.SqsDlq(failures),
        )
        self.mapping.node.add_dependency(stream_read)
        self.mapping.node.add_dependency(role)
        self.stream_read = stream_read
