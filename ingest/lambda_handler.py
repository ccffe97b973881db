"""Lambda entry point of the ingest: S3 ObjectCreated notifications delivered by SQS.

Each SQS message holds one S3 event notification. All objects of a batch are read
in one ingest run (one set of files in the LAKE, not one per object), through the
same core as ``certsight ingest``. A message that cannot be used (not an S3 event,
an object that no longer exists) is reported in ``batchItemFailures`` so that SQS
retries it, or moves it to the dead-letter queue, without holding the others back.

Environment: ``CERTSIGHT_LAKE`` (``s3://bucket/prefix``); AWS settings as usual.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger

from ingest.lake import Lake
from ingest.run import ingest
from ingest.sources import SourceObject, find_sources

logger = Logger(service="certsight-ingest", level="INFO")


def _now() -> datetime:
    return datetime.now(UTC)


def _objects_of(message: Mapping[str, Any]) -> list[str]:
    """The ``s3://`` URIs an SQS message announces; [] for S3's own test event."""
    body = json.loads(message["body"])
    if body.get("Event") == "s3:TestEvent":
        return []
    uris = []
    for record in body["Records"]:
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])  # S3 events form-encode keys
        uris.append(f"s3://{bucket}/{key}")
    return uris


def handle(event: Mapping[str, Any], lake: Lake) -> dict[str, Any]:
    failures: list[dict[str, str]] = []
    wanted: dict[str, SourceObject] = {}
    owners: dict[str, str] = {}
    for message in event.get("Records", []):
        message_id = str(message.get("messageId", ""))
        try:
            for uri in _objects_of(message):
                found = [o for o in find_sources([uri]) if o.uri == uri]
                if not found:
                    raise LookupError(f"{uri} does not exist (deleted since the event?)")
                wanted[uri] = found[0]
                owners[uri] = message_id
        except (KeyError, TypeError, ValueError, LookupError) as exc:
            logger.warning(
                "unusable ingest message", extra={"message_id": message_id, "error": str(exc)}
            )
            failures.append({"itemIdentifier": message_id})
    if wanted:
        try:
            report = ingest(sorted(wanted.values()), lake, _now)
        except Exception:
            logger.exception("ingest failed")
            failed = {f["itemIdentifier"] for f in failures} | set(owners.values())
            return {"batchItemFailures": [{"itemIdentifier": m} for m in sorted(failed)]}
        for source in report.sources:
            logger.info(
                "ingested",
                extra={
                    "source_object": source.uri,
                    "records_read": source.records_read,
                    "records_written": source.records_written,
                    "quarantined": source.quarantined,
                },
            )
    return {"batchItemFailures": failures}


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    lake_uri = os.environ.get("CERTSIGHT_LAKE")
    if not lake_uri:
        raise RuntimeError("set CERTSIGHT_LAKE (s3://bucket/prefix) for the ingest function")
    return handle(event, Lake.at(lake_uri))
