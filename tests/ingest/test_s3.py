"""The S3 path end to end, against moto's server: RAW on S3, LAKE on S3, exactly once."""

from __future__ import annotations

import gzip
import uuid
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from ingest.lake import Lake
from ingest.run import ingest
from ingest.sources import find_sources
from tests.conftest import PkiHome
from tests.ingest.test_exactly_once import make_raw


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def bucket(aws_env: str) -> str:
    name = f"certsight-{uuid.uuid4().hex[:10]}"
    boto3.session.Session().client("s3").create_bucket(Bucket=name)
    return name


def upload(folder: Path, bucket: str, prefix: str) -> int:
    client = boto3.session.Session().client("s3")
    count = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            client.put_object(
                Bucket=bucket, Key=f"{prefix}/{path.relative_to(folder)}", Body=path.read_bytes()
            )
            count += 1
    return count


def test_raw_and_lake_on_s3(pki_home: PkiHome, tmp_path: Path, bucket: str) -> None:
    expected = make_raw(pki_home, tmp_path / "raw", 5)
    assert upload(tmp_path / "raw", bucket, "raw/ocsp") == 5
    client = boto3.session.Session().client("s3")
    client.put_object(Bucket=bucket, Key="raw/ocsp/.partial.tmp", Body=b"being written")
    client.put_object(
        Bucket=bucket, Key="raw/ocsp/broken.gz", Body=gzip.compress(b'{"log": "ocsp"}\n')[:15]
    )
    sources = find_sources([f"s3://{bucket}/raw/"])
    assert len(sources) == 6 and all(s.uri.startswith(f"s3://{bucket}/raw/") for s in sources)
    lake = Lake.at(f"s3://{bucket}/lake")
    report = ingest(sources, lake, now)
    assert len(report.sources) == 6
    assert lake.read("ocsp_requests").num_rows == expected
    assert lake.read("quarantine").num_rows >= 1
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="lake/")["Contents"]]
    assert any(k.startswith("lake/ocsp_requests/dt=2026-11-01/") for k in keys)
    assert any(k.startswith("lake/_manifest/") for k in keys)
    # pyarrow keeps zero-byte folder markers ("lake/_staging/"); no staged file may remain.
    leftovers = [
        k
        for k in keys
        if k == "lake/_lock" or (k.startswith("lake/_staging/") and not k.endswith("/"))
    ]
    assert leftovers == []
    again = ingest(find_sources([f"s3://{bucket}/raw/"]), lake, now)
    assert again.sources == [] and again.already_ingested == 6
    assert lake.read("ocsp_requests").num_rows == expected


def test_s3_run_committed_but_not_published_is_rolled_forward(
    pki_home: PkiHome, tmp_path: Path, bucket: str
) -> None:
    from tests.ingest.test_exactly_once import staged_run

    expected = make_raw(pki_home, tmp_path / "raw", 2)
    upload(tmp_path / "raw", bucket, "raw")
    lake = Lake.at(f"s3://{bucket}/lake")
    sources = find_sources([f"s3://{bucket}/raw"])
    run = staged_run(lake, f"s3://{bucket}/raw")
    lake.commit(run.manifest)
    assert lake.read("ocsp_requests").num_rows == 0
    report = ingest(sources, lake, now)
    assert report.rolled_forward == 1 and report.sources == []
    assert lake.read("ocsp_requests").num_rows == expected


def test_cdn_rows_join_responder_rows_committed_on_s3(
    pki_home: PkiHome, tmp_path: Path, bucket: str
) -> None:
    from tests.ingest.test_origin_join import cdn_log, cdn_rows, responder_log

    requests = responder_log(pki_home, tmp_path / "run1" / "responder.jsonl.gz")
    upload(tmp_path / "run1", bucket, "raw/run1")
    lake = Lake.at(f"s3://{bucket}/lake")
    ingest(find_sources([f"s3://{bucket}/raw/"]), lake, now)
    cdn_log(tmp_path / "run2" / "cdn.log.gz", requests)
    upload(tmp_path / "run2", bucket, "raw/run2")
    # The days either side of the CDN's have no folder in the LAKE yet: nothing to join.
    report = ingest(find_sources([f"s3://{bucket}/raw/"]), lake, now)
    assert report.already_ingested == 1 and len(report.sources) == 1
    rows = cdn_rows(lake)
    assert rows["edge-revoked=="]["cert_status"] == "revoked"
    assert rows["edge-good=="]["response_status"] == "successful"
    assert rows["edge-cached=="]["cert_status"] is None


def test_the_sdk_here_can_make_the_locks_conditional_writes(aws_env: str) -> None:
    """The S3 LAKE lock relies on If-None-Match; an SDK too old for it is refused up front
    (docs/deployment.md says which SDK the ingest function needs)."""
    from ingest.locking import supports_conditional_writes

    client = boto3.session.Session().client("s3")
    assert supports_conditional_writes(client)
    assert not supports_conditional_writes(boto3.session.Session().client("sqs"))
