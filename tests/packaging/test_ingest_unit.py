"""The ingest unit at work from its unpacked zip, on its fallback numpy and pyarrow."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import uuid
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from packaging.version import Version
from pyarrow import fs as pafs

from certsight.packaging import (
    MANIFEST_NAME,
    BuiltUnit,
)
from ingest.lake import Lake
from ingest.lambda_handler import handle as handle_ingest_batch
from tests.conftest import PkiHome
from tests.ingest.conftest import as_lines, responder_records, write_jsonl
from tests.ingest.test_cloudfront import FIELDS_33 as CLOUDFRONT_FIELDS
from tests.ingest.test_cloudfront import cloudfront_stem, write_log
from tests.ingest.test_cloudfront import line as cloudfront_line
from tests.ingest.test_lambda_ingest import s3_message
from tests.lambda_sandbox import (
    ingest_in_sandbox,
)
from tests.packaging.support import (
    ARROW,
)
from tests.responders.test_ocsp_core import load as load_certificate
from tests.responders.test_ocsp_core import request_der

# -- the ingest unit at work, with its fallback versions ---------------------------------
INGEST_TABLES = ("ocsp_requests", "crl_fetches", "artifact_downloads", "quarantine")
JOIN_ID = "e2e-join=="  # CloudFront's x-edge-request-id, logged by the responder too


def write_ingest_raw(home: PkiHome, root: Path) -> list[Path]:
    """A responder access log (every kind of record, the OCSP one reached through
    CloudFront) and the CloudFront standard log of that OCSP GET and a CRL download, so
    that the run joins the CDN row with its origin's record."""
    records = responder_records(home)
    records[0]["cf_request_id"] = JOIN_ID  # the POST of the good and the revoked CertID
    for record in records:
        record["event_time"] = "2026-11-27T23:59:57.000000Z"
    responder = write_jsonl(root / "a-responder" / "batch-00001.jsonl.gz", as_lines(records))
    issuer = load_certificate(home.home.pki.issuing_cert)
    ocsp_get = cloudfront_stem(request_der(load_certificate(home.good), issuer), "windows")
    cdn = write_log(
        root / "cloudfront" / "E2EXAMPLE.2026-11-27-23.abcd1234.gz",
        CLOUDFRONT_FIELDS,
        [
            cloudfront_line(
                CLOUDFRONT_FIELDS, **{"cs-uri-stem": ocsp_get, "x-edge-request-id": JOIN_ID}
            ),
            cloudfront_line(
                CLOUDFRONT_FIELDS, **{"cs-uri-stem": "/crl/issuing-ca.crl", "sc-bytes": "4096"}
            ),
        ],
    )
    return [responder, cdn]


def read_lake(filesystem: pafs.S3FileSystem, root: str) -> dict[str, list[dict[str, Any]]]:
    """Every table of a LAKE on S3 as rows, by the venv's own pyarrow, in a stable order."""
    tables = {}
    for table in INGEST_TABLES:
        found = filesystem.get_file_info(pafs.FileSelector(f"{root}/{table}", allow_not_found=True))
        rows = (
            pq.read_table(f"{root}/{table}", filesystem=filesystem, partitioning="hive").to_pylist()
            if found
            else []
        )
        tables[table] = sorted(rows, key=lambda row: (row["source_line"], row.get("serial") or ""))
    return tables


@pytest.mark.slow
def test_ingest_unit_ingests_an_sqs_batch_from_its_unpacked_zip(
    built: dict[str, BuiltUnit],
    unpacked: dict[str, Path],
    runtime_dir: Path,
    pki_home: PkiHome,
    aws_env: str,
    tmp_path: Path,
) -> None:
    """The ingest zip works, not only imports: its handler, run from the unpacked folder
    with the fallback numpy and pyarrow, turns a real SQS batch of S3 ObjectCreated
    notifications for RAW objects on moto's server into LAKE rows; read back by the
    venv's pyarrow, they are the rows the venv's own numpy and pyarrow make."""
    manifest = json.loads((unpacked["ingest"] / MANIFEST_NAME).read_text())
    listed = {entry["name"]: entry for entry in manifest["distributions"]}
    for name in ARROW:  # the venv's versions publish no manylinux2014 wheel
        entry = listed[name]
        assert entry["venv_version"] == importlib.metadata.version(name)
        assert Version(entry["version"]) < Version(entry["venv_version"])
        assert entry["fallback"] == f"no manylinux2014 wheel for {entry['venv_version']}"
    assert {(f.name, f.bundled_version) for f in built["ingest"].fallbacks} == {
        (name, listed[name]["version"]) for name in ARROW
    }

    bucket = f"certsight-{uuid.uuid4().hex[:10]}"
    s3 = boto3.session.Session().client("s3")
    s3.create_bucket(Bucket=bucket)
    raw = write_ingest_raw(pki_home, tmp_path / "raw")
    keys = [f"raw/{path.relative_to(tmp_path / 'raw').as_posix()}" for path in raw]
    for path, key in zip(raw, keys, strict=True):
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    event = {"Records": [s3_message(bucket, key, f"m{n}") for n, key in enumerate(keys)]}

    function_env = {name: value for name, value in os.environ.items() if name.startswith("AWS_")}
    answer = ingest_in_sandbox(
        unpacked["ingest"],
        runtime_dir,
        event,
        {**function_env, "CERTSIGHT_LAKE": f"s3://{bucket}/lake"},
    )
    assert answer.result == {"batchItemFailures": []}
    # The zip's numpy and pyarrow did the work: the fallback versions, from the zip.
    assert answer.versions == {name: listed[name]["version"] for name in ARROW}
    for name in ARROW:
        assert Path(answer.files[name]).is_relative_to(unpacked["ingest"]), answer.files

    filesystem = pafs.S3FileSystem(
        endpoint_override=aws_env.removeprefix("http://"), scheme="http", region="us-east-1"
    )
    lake = read_lake(filesystem, f"{bucket}/lake")
    ocsp_rows = lake["ocsp_requests"]
    good, revoked = pki_home.good_serial.lower(), pki_home.revoked_serial.lower()
    assert [(r["source"], r["source_line"]) for r in ocsp_rows] == [
        ("lambda", 1),  # the POST of two CertIDs: a row each
        ("lambda", 1),
        ("lambda", 2),  # the malformed request: one row without CertID
        ("cloudfront", 3),  # the GET, below the log's two header lines
    ]
    assert {(r["serial"], r["cert_status"]) for r in ocsp_rows[:2]} == {
        (good, "good"),
        (revoked, "revoked"),
    }
    assert (ocsp_rows[2]["serial"], ocsp_rows[2]["response_status"]) == (None, "malformedRequest")
    cdn = ocsp_rows[3]
    assert (cdn["serial"], cdn["client_ip"], cdn["user_agent"], cdn["http_method"]) == (
        good,
        "198.51.100.7",
        "Microsoft-CryptoAPI/10.0",
        "GET",
    )
    # Joined with the responder's record of the same request: what only the origin knew.
    assert (cdn["cf_request_id"], cdn["response_status"], cdn["cert_status"]) == (
        JOIN_ID,
        "successful",
        "good",
    )
    assert cdn["origin_latency_ms"] == ocsp_rows[0]["latency_ms"] > 0
    assert {r["dt"] for r in ocsp_rows} == {"2026-11-27"}
    assert [(r["source"], r["crl_name"]) for r in lake["crl_fetches"]] == [
        ("lambda", "issuing-ca"),
        ("cloudfront", "issuing-ca"),
    ]
    assert lake["crl_fetches"][1]["bytes"] == 4096
    assert [r["path"] for r in lake["artifact_downloads"]] == ["/ca/root-ca.crt", "/wp-admin"]
    assert lake["quarantine"] == []
    sources = {r["source_object"] for rows in lake.values() for r in rows}
    assert sources == {f"s3://{bucket}/{key}" for key in keys}
    runs = filesystem.get_file_info(pafs.FileSelector(f"{bucket}/lake/_manifest"))
    assert len(runs) == 1  # one run for the batch, committed

    # The venv's numpy and pyarrow, on the same batch, make the same rows.
    assert handle_ingest_batch(event, Lake.at(f"s3://{bucket}/venv-lake")) == answer.result
    venv_lake = read_lake(filesystem, f"{bucket}/venv-lake")
    assert venv_lake == lake
