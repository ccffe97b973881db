"""Alerts published to an Amazon SNS topic, one message per alert, ten per call.

```toml
[alerts]
sns_topic_arn = "arn:aws:sns:us-east-1:123456789012:certsight-alerts"
sns_min_severity = "critical"    # optional, overrides [alerts] min_severity
```
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Final

from pydantic import AfterValidator, Field

from warehouse.alert import Alert, dumps
from warehouse.destinations.base import (
    AlertSink,
    AlertSinkSettings,
    Context,
    DeliveryError,
    NonEmpty,
    Severity,
    encode_alerts,
)

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import PublishBatchRequestEntryTypeDef

SNS_BATCH_ENTRIES: Final = 10  # the PublishBatch limit
SNS_MAX_BYTES: Final = 262_144  # per message and per PublishBatch call
_SNS_ENTRY_OVERHEAD: Final = 512  # subject + attributes, counted generously

_TOPIC_ARN = re.compile(
    r"^arn:aws[a-z-]*:sns:(?P<region>[a-z0-9-]+):\d{12}:(?P<name>[A-Za-z0-9_-]{1,256}(\.fifo)?)$"
)


def _topic_arn(value: str) -> str:
    if not _TOPIC_ARN.match(value):
        raise ValueError(f"{value!r} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:TOPIC)")
    return value


class SnsSettings(AlertSinkSettings):
    """The ``sns_*`` keys of ``[alerts]``; the ARN is checked at load time because it also
    names the region the client talks to."""

    topic_arn: Annotated[NonEmpty, AfterValidator(_topic_arn)] = Field(alias="sns_topic_arn")
    min_severity: Severity | None = Field(None, alias="sns_min_severity")


def _subject(alert: Alert) -> str:
    """Email subject: SNS wants printable ASCII without newlines, at most 100 characters."""
    raw = f"certsight {alert.severity.upper()}: {alert.detector}"
    return "".join(c if " " <= c <= "~" else "?" for c in raw)[:100]


class SnsSink(AlertSink[SnsSettings]):
    """Publishes one SNS message per alert (the ``to_json`` document), ten per call.

    The client follows the standard AWS settings (credentials, ``AWS_ENDPOINT_URL``
    and friends) in the topic's own region, created on first use so that loading
    the settings needs no credentials. FIFO topics get the detector as message
    group and a deduplication id from the alert's version.
    """

    slug = "sns"
    settings_model = SnsSettings

    def __init__(
        self,
        settings: SnsSettings,
        context: Context,
        *,
        name: str | None = None,
        client: SNSClient | None = None,
    ) -> None:
        super().__init__(settings, context, name=name)
        match = _TOPIC_ARN.match(settings.topic_arn)
        if match is None:  # the settings model checked it; this keeps the parts typed
            raise ValueError(f"not an SNS topic ARN: {settings.topic_arn!r}")
        self.topic_arn = settings.topic_arn
        self.region = match["region"]
        self.fifo = match["name"].endswith(".fifo")
        self._client = client

    def __repr__(self) -> str:
        return f"SnsSink({self.topic_arn!r})"

    def client(self) -> SNSClient:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.session.Session().client(
                "sns",
                region_name=self.region,
                config=Config(
                    connect_timeout=5,
                    read_timeout=10,
                    retries={"mode": "standard", "total_max_attempts": 3},
                ),
            )
        return self._client

    def deliver(self, alerts: Sequence[Alert]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        encoded, errors = encode_alerts(alerts)
        groups, too_big = self._groups(encoded)
        errors.extend(too_big)
        delivered: list[str] = []
        for index, group in enumerate(groups):
            by_id = {entry["Id"]: alert.key for alert, entry in group}
            try:
                response = self.client().publish_batch(
                    TopicArn=self.topic_arn,
                    PublishBatchRequestEntries=[entry for _, entry in group],
                )
            except (ClientError, BotoCoreError) as exc:  # their messages carry no secret
                left = sum(len(later) for later in groups[index:])
                errors.append(f"publish_batch failed: {exc}; {left} alerts not published")
                break
            delivered.extend(by_id[ok["Id"]] for ok in response.get("Successful", []))
            errors.extend(
                f"{by_id.get(bad['Id'], bad['Id'])}: {bad['Code']} {bad.get('Message', '')}".strip()
                for bad in response.get("Failed", [])
            )
        if errors:
            raise DeliveryError(self.name, "; ".join(errors), delivered=delivered)

    def _entry(self, number: int, alert: Alert, message: str) -> PublishBatchRequestEntryTypeDef:
        entry: PublishBatchRequestEntryTypeDef = {
            "Id": f"m{number}",
            "Message": message,
            "Subject": _subject(alert),
            "MessageAttributes": {
                "detector": {"DataType": "String", "StringValue": alert.detector},
                "severity": {"DataType": "String", "StringValue": alert.severity},
            },
        }
        if self.fifo:
            entry["MessageGroupId"] = alert.detector[:128]
            entry["MessageDeduplicationId"] = hashlib.sha256(alert.version.encode()).hexdigest()
        return entry

    def _groups(
        self, encoded: Sequence[tuple[Alert, dict[str, Any]]]
    ) -> tuple[list[list[tuple[Alert, PublishBatchRequestEntryTypeDef]]], list[str]]:
        """Batches within both PublishBatch limits: 10 entries and 256 KiB in all."""
        groups: list[list[tuple[Alert, PublishBatchRequestEntryTypeDef]]] = []
        too_big: list[str] = []
        size = 0
        for alert, document in encoded:
            message = dumps(document).decode()
            cost = len(message.encode()) + _SNS_ENTRY_OVERHEAD
            if cost > SNS_MAX_BYTES:
                too_big.append(f"{alert.key}: message of {cost} bytes exceeds SNS's 256 KiB")
                continue
            if not groups or len(groups[-1]) >= SNS_BATCH_ENTRIES or size + cost > SNS_MAX_BYTES:
                groups.append([])
                size = 0
            groups[-1].append((alert, self._entry(len(groups[-1]), alert, message)))
            size += cost
        return groups, too_big
