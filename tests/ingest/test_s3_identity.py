"""Which S3 object versions the ingest has read: by ETag, and LAKEs ingested when
certsight went by modification time are still understood (moto's server)."""

from __future__ import annotations

import gzip
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from pyarrow import fs as pafs

from ingest.lake import Lake
from ingest.run import SourceReport, ingest
from ingest.sources import SourceObject, find_sources
from ingest.storage import location
from tests.conftest import PkiHome
from tests.ingest.conftest import as_lines, responder_records
from tests.ingest.test_exactly_once import make_raw
from tests.ingest.test_s3 import bucket, upload

__all__ = ["bucket"]  # the fixture, shared with test_s3


def now() -> datetime:
    return datetime.now(UTC)


def batch(records: list[dict[str, Any]], tag: str) -> bytes:
    """A gzip log whose size does not depend on ``tag`` (one character): stored, not
    compressed, so that equal lengths in are equal lengths out."""
    tagged = [{**record, "request_id": f"{tag}-{record['request_id']}"} for record in records]
    return gzip.compress(b"\n".join(as_lines(tagged)) + b"\n", compresslevel=0, mtime=0)


def test_a_same_size_rewrite_within_the_same_second_is_ingested_again(
    pki_home: PkiHome, bucket: str
) -> None:
    client = boto3.session.Session().client("s3")
    lake = Lake.at(f"s3://{bucket}/lake")
    records = responder_records(pki_home)
    for attempt in range(5):
        key = f"raw/batch-{attempt}.jsonl.gz"
        first, second = batch(records, "a"), batch(records, "b")
        assert len(first) == len(second) and first != second
        while time.time() % 1 > 0.05:  # start at the top of a second, so the rewrite
            time.sleep(0.01)  # below lands in the same one
        client.put_object(Bucket=bucket, Key=key, Body=first)
        written = client.head_object(Bucket=bucket, Key=key)["LastModified"]

        def rewrite(_: SourceReport, key: str = key, second: bytes = second) -> None:
            client.put_object(Bucket=bucket, Key=key, Body=second)

        ingest(find_sources([f"s3://{bucket}/{key}"]), lake, now, on_object=rewrite)
        rewritten = client.head_object(Bucket=bucket, Key=key)
        if rewritten["LastModified"] == written:
            break
        # This attempt's rewrite crossed a second: its object is new by any measure, so
        # it goes, or the check below would find it as well.
        client.delete_object(Bucket=bucket, Key=key)
    else:
        raise AssertionError("five rewrites all crossed a second: this machine is too slow")
    again = ingest(find_sources([f"s3://{bucket}/raw"]), lake, now)
    assert [s.uri for s in again.sources] == [f"s3://{bucket}/{key}"]
    requests = lake.read("ocsp_requests").column("request_id").to_pylist()
    assert any(r.startswith("b-") for r in requests)
    versions = {s["version"] for run in lake.manifests() for s in run.sources if key in s["uri"]}
    assert rewritten["ETag"].strip('"') in versions


def legacy_sources(prefix_uri: str) -> list[SourceObject]:
    """What certsight listed before ETags: pyarrow's listing, versions by mtime."""
    where = location(prefix_uri)
    infos = where.filesystem.get_file_info(pafs.FileSelector(where.root, recursive=True))
    return sorted(
        SourceObject(f"s3://{i.path}", i.size, str(i.mtime_ns))
        for i in infos
        if i.type == pafs.FileType.File
    )


def test_objects_ingested_under_their_old_keys_are_not_read_again(
    pki_home: PkiHome, tmp_path: Path, bucket: str
) -> None:
    expected = make_raw(pki_home, tmp_path / "raw", 4)
    upload(tmp_path / "raw", bucket, "raw")
    lake = Lake.at(f"s3://{bucket}/lake")
    before_upgrade = ingest(legacy_sources(f"s3://{bucket}/raw"), lake, now)
    assert len(before_upgrade.sources) == 4

    after_upgrade = ingest(find_sources([f"s3://{bucket}/raw"]), lake, now)
    assert after_upgrade.sources == [] and after_upgrade.already_ingested == 4
    assert lake.read("ocsp_requests").num_rows == expected

    # A changed object is new, whatever key its old version was recorded under.
    client = boto3.session.Session().client("s3")
    changed = sorted(o.uri for o in find_sources([f"s3://{bucket}/raw"]))[0]
    name = changed.removeprefix(f"s3://{bucket}/")
    client.put_object(Bucket=bucket, Key=name, Body=batch(responder_records(pki_home), "z"))
    later = ingest(find_sources([f"s3://{bucket}/raw"]), lake, now)
    assert [s.uri for s in later.sources] == [changed] and later.already_ingested == 3


def test_a_second_version_of_the_same_bytes_is_not_read_twice(
    pki_home: PkiHome, bucket: str
) -> None:
    """A PUT retried after it had succeeded makes a second version of the same bytes in a
    versioned bucket: its rows are in the LAKE already."""
    client = boto3.session.Session().client("s3")
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    data = batch(responder_records(pki_home), "v")
    client.put_object(Bucket=bucket, Key="raw/one.jsonl.gz", Body=data)
    # The LAKE in a bucket of its own: moto 5.2.6 lists a "folder" whose objects all have
    # a delete marker on top in a versioned bucket (S3 does not), and the recovery would
    # take the LAKE's emptied staging for an interrupted run.
    lake_bucket = f"{bucket}-lake"
    client.create_bucket(Bucket=lake_bucket)
    lake = Lake.at(f"s3://{lake_bucket}/lake")
    first = ingest(find_sources([f"s3://{bucket}/raw"]), lake, now)
    rows = lake.read("ocsp_requests").num_rows
    assert len(first.sources) == 1 and rows > 0
    client.put_object(Bucket=bucket, Key="raw/one.jsonl.gz", Body=data)
    versions = client.list_object_versions(Bucket=bucket, Prefix="raw/")["Versions"]
    assert len(versions) == 2
    again = ingest(find_sources([f"s3://{bucket}/raw"]), lake, now)
    assert again.sources == [] and again.already_ingested == 1
    assert lake.read("ocsp_requests").num_rows == rows


def test_listing_skips_folder_markers_hidden_and_temporary_objects(bucket: str) -> None:
    client = boto3.session.Session().client("s3")
    for key in ("raw/", "raw/a.log", "raw/.hidden", "raw/b.tmp", "raw/.dir/c.log", "rawish/d"):
        client.put_object(Bucket=bucket, Key=key, Body=b"x")
    found = find_sources([f"s3://{bucket}/raw/"])
    assert [o.uri for o in found] == [f"s3://{bucket}/raw/a.log"]
    assert found[0].version == client.head_object(Bucket=bucket, Key="raw/a.log")["ETag"].strip('"')
    # One object named exactly is found whatever its name.
    assert [o.uri for o in find_sources([f"s3://{bucket}/raw/b.tmp"])] == [
        f"s3://{bucket}/raw/b.tmp"
    ]
    assert find_sources([f"s3://{bucket}/nothing-here"]) == []
