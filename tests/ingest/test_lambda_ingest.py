"""The ingest Lambda with real-shaped SQS-delivered S3 notifications, on moto's server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest

from ingest import lambda_handler
from ingest.lake import Lake
from tests.conftest import PkiHome
from tests.ingest.test_exactly_once import make_raw
from tests.ingest.test_s3 import upload


def s3_message(bucket: str, key: str, message_id: str) -> dict[str, Any]:
    notification = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-11-28T09:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": quote_plus(key), "size": 1, "eTag": "x"},
                },
            }
        ]
    }
    return {
        "messageId": message_id,
        "receiptHandle": "h",
        "body": json.dumps(notification),
        "attributes": {},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ingest",
        "awsRegion": "us-east-1",
    }


@pytest.fixture
def bucket(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"certsight-{uuid.uuid4().hex[:10]}"
    boto3.session.Session().client("s3").create_bucket(Bucket=name)
    monkeypatch.setenv("CERTSIGHT_LAKE", f"s3://{name}/lake")
    return name


def test_batch_ingests_and_reports_only_the_bad_messages(
    pki_home: PkiHome, tmp_path: Path, bucket: str
) -> None:
    expected = make_raw(pki_home, tmp_path / "raw", 3)
    upload(tmp_path / "raw", bucket, "raw/with space")
    keys = sorted(
        o["Key"]
        for o in boto3.session.Session()
        .client("s3")
        .list_objects_v2(Bucket=bucket, Prefix="raw/")["Contents"]
    )
    records = [s3_message(bucket, key, f"m{index}") for index, key in enumerate(keys)]
    records.append(s3_message(bucket, "raw/gone.gz", "missing"))
    records.append({"messageId": "garbage", "body": "not json"})
    records.append({"messageId": "test", "body": json.dumps({"Event": "s3:TestEvent"})})
    result = lambda_handler.handler({"Records": records}, None)
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == [
        "garbage",
        "missing",
    ]
    lake = Lake.at(f"s3://{bucket}/lake")
    assert lake.read("ocsp_requests").num_rows == expected
    assert len(lake.manifests()) == 1  # one run for the whole batch
    # Redelivery of the same messages adds nothing.
    again = lambda_handler.handler({"Records": records[:3]}, None)
    assert again["batchItemFailures"] == []
    assert lake.read("ocsp_requests").num_rows == expected


def test_unreachable_lake_fails_the_whole_batch(
    pki_home: PkiHome, tmp_path: Path, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_raw(pki_home, tmp_path / "raw", 1)
    upload(tmp_path / "raw", bucket, "raw")
    monkeypatch.setenv("CERTSIGHT_LAKE", "s3://no-such-bucket-certsight/lake")
    key = next(
        iter(
            boto3.session.Session()
            .client("s3")
            .list_objects_v2(Bucket=bucket, Prefix="raw/")["Contents"]
        )
    )["Key"]
    result = lambda_handler.handler({"Records": [s3_message(bucket, key, "only")]}, None)
    assert result["batchItemFailures"] == [{"itemIdentifier": "only"}]
