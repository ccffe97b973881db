"""RAW mode writes what production writes: the real ingest reads all of it, quarantines
nothing, and makes exactly the rows LAKE mode writes directly."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pytest

from ingest.formats.cloudfront import STANDARD_FIELDS
from pki.ocsp_getpath import decode_get_request, unquote_once
from pki.ocsp_request import request_fields
from tests.simulator.conftest import LAKE_TABLES, RawRun, Simulated

# What responders/web/exchange.py puts in every access-log record, in its order.
RECORD_KEYS = [
    "log",
    "event_time",
    "request_id",
    "cf_request_id",
    "source",
    "adapter",
    "client_ip",
    "user_agent",
    "http_method",
    "path",
    "http_status",
    "request_bytes",
    "response_bytes",
    "latency_ms",
]


def test_the_ingest_reads_everything_and_quarantines_nothing(raw_run: RawRun) -> None:
    assert raw_run.report is not None
    sources = raw_run.report.sources
    assert sources and all(s.quarantined == 0 for s in sources)
    assert all(s.records_read == s.records_written for s in sources)
    formats = {s.format for s in sources}
    assert formats == {"cloudfront", "json-lines", "pem", "der"}
    assert not (raw_run.lake / "quarantine").exists()


def test_lake_mode_writes_the_rows_the_ingest_makes(raw_run: RawRun, lake_run: Simulated) -> None:
    """Row for row, except ``path`` (null in LAKE mode for OCSP GETs) and the prefix of
    ``source_object`` (the RAW folder or ``simulate://``); and the same truth."""
    assert raw_run.truth == lake_run.truth
    con = duckdb.connect()
    raw_prefix = f"{(raw_run.home / 'raw').resolve()}/"
    for table in LAKE_TABLES:
        columns = con.execute(
            f"describe select * from read_parquet('{lake_run.lake}/{table}/**/*.parquet', "
            "hive_partitioning = true)"
        ).fetchall()
        kept = ", ".join(c[0] for c in columns if c[0] not in ("path", "source_object"))

        def query(lake: Path, prefix: str, kept: str = kept, table: str = table) -> str:
            return (
                f"select {kept}, replace(source_object, '{prefix}', '') as object "
                f"from read_parquet('{lake}/{table}/**/*.parquet', hive_partitioning = true)"
            )

        raw_sql, lake_sql = query(raw_run.lake, raw_prefix), query(lake_run.lake, "simulate://")
        only_raw = con.execute(f"select count(*) from ({raw_sql} except all {lake_sql})").fetchone()
        only_lake = con.execute(
            f"select count(*) from ({lake_sql} except all {raw_sql})"
        ).fetchone()
        total = con.execute(f"select count(*) from ({raw_sql})").fetchone()
        assert (only_raw, only_lake) == ((0,), (0,)), table
        assert total is not None and total[0] > 0, table
    missing = con.execute(
        f"select count(*) from read_parquet('{raw_run.lake}/ocsp_requests/**/*.parquet') "
        "where path is null"
    ).fetchone()
    assert missing == (0,)  # through RAW, every request has its path


def test_cloudfront_logs_are_standard_33_field_logs(raw_run: RawRun) -> None:
    logs = sorted((raw_run.home / "raw" / "standard-logs" / "cloudfront").glob("*.gz"))
    assert len(logs) == 9 * 24  # hourly
    lines = gzip.decompress(logs[30].read_bytes()).decode().splitlines()
    assert lines[0] == "#Version: 1.0"
    assert lines[1] == "#Fields: " + " ".join(STANDARD_FIELDS)
    fields = [line.split("\t") for line in lines[2:]]
    assert all(len(f) == 33 for f in fields)
    record = dict(zip(STANDARD_FIELDS, fields[0], strict=True))
    assert record["x-edge-result-type"] in ("Hit", "Miss")
    assert len(record["x-edge-request-id"]) == 56
    assert logs[30].name.startswith("E3CERTSIGHTSIM.2026-11-")


def test_ocsp_gets_carry_real_der_requests_in_both_encodings(raw_run: RawRun) -> None:
    styles = set()
    for log in sorted((raw_run.home / "raw" / "standard-logs" / "cloudfront").glob("*.gz"))[:48]:
        for line in gzip.decompress(log.read_bytes()).decode().splitlines()[2:]:
            record = dict(zip(STANDARD_FIELDS, line.split("\t"), strict=True))
            stem = record["cs-uri-stem"]
            if record["cs-method"] != "GET" or not stem.startswith("/ocsp/"):
                continue
            sent = unquote_once(stem)  # CloudFront's own escaping undone
            styles.add("escaped" if "%2F" in sent or "%2B" in sent or "%3D" in sent else "raw")
            decoded = request_fields(decode_get_request(sent.removeprefix("/ocsp/")))
            assert len(decoded.cert_ids) == 1 and not decoded.nonce
    assert styles == {"raw", "escaped"}


def test_responder_records_have_the_writers_shape(raw_run: RawRun) -> None:
    ocsp = sorted((raw_run.home / "raw" / "ocsp").rglob("*.jsonl.gz"))
    crl = sorted((raw_run.home / "raw" / "crl").rglob("*.jsonl.gz"))
    assert ocsp and crl and all(p.parent.name.startswith("dt=2026-11-") for p in ocsp)
    records = [json.loads(line) for line in gzip.decompress(ocsp[40].read_bytes()).splitlines()]
    assert all(list(r)[: len(RECORD_KEYS)] == RECORD_KEYS for r in records)
    methods = {r["http_method"] for r in records}
    assert methods == {"GET", "POST"}
    via_cdn = [r for r in records if r["cf_request_id"] is not None]
    direct = [r for r in records if r["cf_request_id"] is None]
    assert via_cdn and direct
    posts = [r for r in records if r["http_method"] == "POST"]
    assert all(r["path"] == "/ocsp" and r["request_bytes"] > 0 for r in posts)
    assert any(r["nonce"] for r in posts)
    assert all(len(r["cert_ids"]) == 1 for r in records)
    crl_records = [json.loads(line) for line in gzip.decompress(crl[40].read_bytes()).splitlines()]
    assert all(r["object"] == "crl" and r["crl_number"] > 0 for r in crl_records)


@pytest.mark.parametrize("kind", ["ocsp", "crl"])
def test_cdn_misses_reached_the_responder_with_the_cdn_request_id(
    raw_run: RawRun, kind: str
) -> None:
    con = duckdb.connect()
    table = "ocsp_requests" if kind == "ocsp" else "crl_fetches"
    found = con.execute(
        f"""
        with rows as (select * from read_parquet('{raw_run.lake}/{table}/**/*.parquet'))
        select
            count(*) filter (where source = 'cloudfront' and not cache_hit),
            count(*) filter (where source = 'cloudfront' and not cache_hit and cf_request_id in
                (select cf_request_id from rows where source = 'lambda')),
            count(*) filter (where source = 'cloudfront' and cache_hit and cf_request_id in
                (select cf_request_id from rows where source = 'lambda'))
        from rows
        """
    ).fetchone()
    assert found is not None
    misses, joined, hits_at_origin = found
    assert misses > 0 and misses == joined and hits_at_origin == 0
