"""Named objects in a folder and on S3 (moto's server on loopback): the one writer of files
that other processes read (stored CRLs, published CA certificates, reports)."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import pytest

from pki.store.base import StoreUnavailableError
from pki.store.objects import (
    FolderObjectStore,
    ObjectStore,
    ObjectStoreError,
    S3ObjectStore,
    open_object_store,
)


def exercise(store: ObjectStore) -> None:
    """What every backend must do: absent, then stored, then replaced with a new version."""
    assert store.get("x.crl") is None and store.version("x.crl") is None
    store.put("x.crl", b"first", "application/pkix-crl")
    first = store.get("x.crl")
    assert first is not None and first.data == b"first"
    assert store.version("x.crl") == first.version
    store.put("x.crl", b"second!", "application/pkix-crl")
    second = store.get("x.crl")
    assert second is not None and second.data == b"second!"
    assert second.version != first.version
    for name in ("../x", "a/b", "a\\b", "", ".hidden", "a\nb", "x" * 300):
        with pytest.raises(ObjectStoreError, match="not an object name"):
            store.put(name, b"", "text/plain")
    # Ordinary report names: spaces, plus signs, other scripts.
    for name in ("Weekly report.html", "q3+q4.csv", "Zertifikate-Übersicht.html"):
        store.put(name, b"ok", "text/html")
        held = store.get(name)
        assert held is not None and held.data == b"ok"


def test_folder_store(tmp_path: Path) -> None:
    store = open_object_store(str(tmp_path / "objects"))
    assert isinstance(store, FolderObjectStore)
    exercise(store)
    leftovers = [p for p in (tmp_path / "objects").iterdir() if p.name.startswith(".")]
    assert not leftovers  # no temporary file stays behind
    assert (tmp_path / "objects" / "x.crl").stat().st_mode & 0o777 == 0o644


def test_folder_store_reports_what_it_cannot_write(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a folder should be")
    store = FolderObjectStore(tmp_path / "blocker" / "inside")
    with pytest.raises(ObjectStoreError, match=r"cannot write .*blocker/inside/a\.crl"):
        store.put("a.crl", b"x", "application/pkix-crl")
    unreadable = FolderObjectStore(tmp_path / "blocker")
    with pytest.raises(StoreUnavailableError):
        unreadable.get("anything")  # a file is no folder: unavailable, not "absent"


def test_s3_store(aws_env: str) -> None:
    client = boto3.session.Session().client("s3")
    bucket = f"certsight-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    store = open_object_store(f"s3://{bucket}/pki/crl/")
    assert isinstance(store, S3ObjectStore) and store.location == f"s3://{bucket}/pki/crl"
    exercise(store)
    head = client.head_object(Bucket=bucket, Key="pki/crl/x.crl")
    assert head["ContentType"] == "application/pkix-crl"
    missing_bucket = open_object_store(f"s3://no-such-{uuid.uuid4().hex[:8]}")
    with pytest.raises(ObjectStoreError, match="cannot write s3://"):
        missing_bucket.put("x.crl", b"", "application/pkix-crl")


@pytest.mark.parametrize(
    ("location", "message"),
    [("s3://", "names no bucket"), ("ftp://host/x", "unsupported location")],
)
def test_bad_locations_are_refused(location: str, message: str) -> None:
    with pytest.raises(ObjectStoreError, match=message):
        open_object_store(location)
