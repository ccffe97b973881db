"""Names that stacks share: the only way one module's stack finds another's resources.

Stacks deploy alone and in any order after the first deployment, so nothing is passed
as a CloudFormation export (an export pins its consumer and blocks the producer's
updates). A producer writes an SSM parameter under ``parameter(...)``; a consumer
reads it at deploy time (``ssm.StringParameter.value_for_string_parameter``).
Physical names that must be known before deployment (log groups, functions) come from
here too.
"""

from __future__ import annotations

from typing import Final

MODULES: Final = ("validation", "issuance", "publishing", "analytics", "access")


def stack_name(env_name: str, module: str) -> str:
    if module not in MODULES:
        raise ValueError(f"unknown module {module!r}: one of {MODULES}")
    return f"certsight-{env_name}-{module}"


def function_name(env_name: str, function: str) -> str:
    """e.g. ``certsight-prod-ocsp``: the analytics stack subscribes to its log group."""
    return f"certsight-{env_name}-{function}"


def warehouse_repository_name(env_name: str) -> str:
    """The warehouse job's ECR repository: the analytics stack creates it, the access
    stack lets the analytics pipeline push to it."""
    return f"certsight-{env_name}-warehouse-job"


def log_group_name(env_name: str, function: str) -> str:
    return f"/aws/lambda/{function_name(env_name, function)}"


def parameter(env_name: str, module: str, key: str) -> str:
    """The SSM parameter a module publishes for the others, e.g.
    ``/certsight/prod/analytics/raw-bucket``."""
    if module not in MODULES:
        raise ValueError(f"unknown module {module!r}: one of {MODULES}")
    return f"/certsight/{env_name}/{module}/{key}"


# The parameters each producer writes (consumers use these keys, never literals).
RAW_BUCKET: Final = ("analytics", "raw-bucket")  # name of the RAW bucket
LAKE_BUCKET: Final = ("analytics", "lake-bucket")
LAKE_DATABASE: Final = ("analytics", "lake-database")  # the Glue database of the LAKE
CDN_LOG_BUCKET: Final = ("analytics", "cdn-log-bucket")  # CloudFront standard logs (ACLs)
ALERTS_TOPIC: Final = ("analytics", "alerts-topic-arn")
# The Firehose into RAW and the role CloudWatch Logs assumes to feed it: the stacks that
# own a log group subscribe it (so no stack waits for another's log groups).
LOG_DELIVERY_STREAM: Final = ("analytics", "log-delivery-stream-arn")
LOG_SUBSCRIPTION_ROLE: Final = ("analytics", "log-subscription-role-arn")
CERTIFICATE_TABLE: Final = ("validation", "certificate-table")
CERTIFICATE_TABLE_STREAM: Final = ("validation", "certificate-table-stream-arn")
CRL_BUCKET: Final = ("validation", "crl-bucket")
PUBLISHING_BUCKET: Final = ("publishing", "bucket")


def shared(env_name: str, what: tuple[str, str]) -> str:
    """The SSM parameter name of one of the shared values above."""
    return parameter(env_name, *what)
