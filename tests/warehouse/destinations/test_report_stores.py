"""The report stores: a folder (files renamed into place) and an S3 prefix (moto's
server on loopback), chosen by ``[reports] destination``."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from certsight.settings import CertsightSettings
from tests.warehouse.destinations.support import context
from warehouse.destinations import DeliveryError, build_store
from warehouse.destinations.folder import FolderDestination
from warehouse.destinations.s3 import S3Destination


def store_for(destination: str | None, home: Path) -> FolderDestination | S3Destination:
    table = {} if destination is None else {"destination": destination}
    settings = CertsightSettings.parse({"reports": table})
    store = build_store(settings.reports.destination, context(home))
    assert isinstance(store, FolderDestination | S3Destination)
    return store


def test_the_destination_picks_the_store(tmp_path: Path) -> None:
    default = store_for(None, tmp_path)
    assert isinstance(default, FolderDestination)
    assert default.location == str(tmp_path / "reports")
    assert store_for("/srv/share/reports", tmp_path).location == "/srv/share/reports"
    bucket = store_for("s3://corp-reports/certsight/weekly/", tmp_path)
    assert isinstance(bucket, S3Destination)
    assert (bucket.bucket, bucket.prefix) == ("corp-reports", "certsight/weekly")
    assert bucket.location == "s3://corp-reports/certsight/weekly"


def test_folder_writes_whole_files_and_reports_failures(tmp_path: Path) -> None:
    store = store_for("out", tmp_path)
    assert store.write("a.html", b"<p>1</p>", "text/html") == str(tmp_path / "out" / "a.html")
    assert store.write("a.html", b"<p>2</p>", "text/html") == str(tmp_path / "out" / "a.html")
    assert (tmp_path / "out" / "a.html").read_bytes() == b"<p>2</p>"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.html"]  # no temporary left
    (tmp_path / "blocker").write_text("a file, not a folder")
    with pytest.raises(DeliveryError, match="cannot write"):
        store_for("blocker/reports", tmp_path).write("a.html", b"x", "text/html")


def test_s3_puts_objects_with_their_media_type(aws_env: str, tmp_path: Path) -> None:
    s3 = boto3.client("s3", endpoint_url=aws_env)
    s3.create_bucket(Bucket="corp-reports")
    store = store_for("s3://corp-reports/weekly", tmp_path)
    assert store.write("r.csv", b"a,b\n", "text/csv") == "s3://corp-reports/weekly/r.csv"
    answer = s3.get_object(Bucket="corp-reports", Key="weekly/r.csv")
    assert answer["ContentType"] == "text/csv"
    assert answer["Body"].read() == b"a,b\n"
    with pytest.raises(DeliveryError, match=r"cannot write s3://no-such-bucket/r\.csv"):
        store_for("s3://no-such-bucket", tmp_path).write("r.csv", b"", "text/csv")
