"""A function's log group subscribed to the Firehose that carries records into RAW.

The stack that owns a log group subscribes it, reading the stream's and the role's
ARNs from the analytics stack's SSM parameters at deploy time. So on a first install
the order is analytics, then validation and issuance, and no stack ever waits for
another stack's log groups (docs/deploy.md, "First deployment").
"""

from __future__ import annotations

from typing import Final

from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.naming import LOG_DELIVERY_STREAM, LOG_SUBSCRIPTION_ROLE, shared

# A record is a line that parses as a JSON object with a "log" key (docs/access-logs.md):
# this passes the access records and issuance events and drops Lambda's
# START/END/REPORT lines, the responders' warnings and every other Powertools line
# (none of which has a "log" key).
RECORD_FILTER: Final = logs.FilterPattern.exists("$.log")


class ShipRecordsToRaw(Construct):
    """The subscription filter of one log group: its records go to RAW."""

    def __init__(
        self, scope: Construct, construct_id: str, *, env_name: str, log_group: logs.ILogGroup
    ) -> None:
        super().__init__(scope, construct_id)
        self.filter = logs.CfnSubscriptionFilter(
            self,
            "Filter",
            log_group_name=log_group.log_group_name,
            filter_name="certsight-records-to-raw",
            filter_pattern=RECORD_FILTER.log_pattern_string,
            destination_arn=ssm.StringParameter.value_for_string_parameter(
                self, shared(env_name, LOG_DELIVERY_STREAM)
            ),
            role_arn=ssm.StringParameter.value_for_string_parameter(
                self, shared(env_name, LOG_SUBSCRIPTION_ROLE)
            ),
        )
        self.filter.node.add_dependency(log_group)
