"""CloudFront standard logging (v2) as it lands in S3: JSON lines, Parquet and W3C, with
the fields the user selected in the order CloudFront writes them, under Hive-style paths.

Each file here says the same requests as a legacy log (tests/ingest/test_cloudfront.py)
and must give the same LAKE rows; bad records are quarantined by the same rules.
"""

from __future__ import annotations

import gzip
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.lake import Lake
from ingest.reader import sniff
from ingest.run import ingest, read_object
from ingest.sources import find_sources
from tests.conftest import PkiHome
from tests.ingest.conftest import as_lines, responder_records, write_jsonl
from tests.ingest.test_cloudfront import FIELDS_33, NOW, cloudfront_stem, line, vector, write_log

# A v2 delivery's folder with partitioning and Hive-compatible names switched on.
HIVE = "AWSLogs/123456789012/CloudFront/DistributionId=E2EXAMPLE/year=2026/month=11/day=27/hour=23"

# What a user might select in the console: the fields certsight reads, fields it does not
# know (v2's real-time extras among them), in an order of their own rather than legacy's.
SELECTED = [
    "x-edge-request-id",
    "cs-uri-stem",
    "c-country",
    "sc-status",
    "cs-method",
    "date",
    "asn",
    "time",
    "c-ip",
    "cs(User-Agent)",
    "x-edge-result-type",
    "sc-bytes",
    "time-taken",
    "x-host-header",
    "cache-behavior-path-pattern",
    "origin-fbl",
]
# The same selection with the millisecond timestamp in place of date and time.
WITH_TIMESTAMP = [f for f in SELECTED if f not in ("date", "time")] + ["timestamp(ms)"]
EXTRAS = {
    "c-country": "DE",
    "asn": "3320",
    "cache-behavior-path-pattern": "/ocsp*",
    "origin-fbl": "0.001",
}
# Athena's Parquet DDL for CloudFront v2 logs: the field names with underscores.
PARQUET_NAMES = {
    "date": "date",
    "time": "time",
    "timestamp(ms)": "timestamp_ms",
    "c-ip": "c_ip",
    "cs-method": "cs_method",
    "cs-uri-stem": "cs_uri_stem",
    "sc-status": "sc_status",
    "cs(User-Agent)": "cs_user_agent",
    "x-edge-result-type": "x_edge_result_type",
    "x-edge-request-id": "x_edge_request_id",
    "sc-bytes": "sc_bytes",
    "time-taken": "time_taken",
    "x-host-header": "x_host_header",
    "c-country": "c_country",
    "asn": "asn",
    "cache-behavior-path-pattern": "cache_behavior_path_pattern",
    "origin-fbl": "origin_fbl",
}


def requests() -> list[dict[str, str]]:
    """One of every route: OCSP GETs (one CertID, several), a POST, a HEAD, a CRL, an
    artefact with an encoded user agent, and a path certsight does not know."""
    sha1 = cloudfront_stem(vector("req-sha1.der"), "windows")
    multi = cloudfront_stem(vector("req-multi-sha1.der"), "java")
    wanted = [
        {"cs-uri-stem": sha1},
        {"cs-uri-stem": multi, "cs(User-Agent)": "Java/17.0.15", "x-edge-result-type": "Miss"},
        {"cs-uri-stem": "/ocsp", "cs-method": "POST", "sc-bytes": "5"},
        {"cs-uri-stem": sha1, "cs-method": "HEAD"},
        {"cs-uri-stem": "/crl/issuing-ca.crl", "sc-bytes": "4096", "time-taken": "0.120"},
        {
            "cs-uri-stem": "/agent/stable/certsight-agent-1.4.2.msi",
            "cs(User-Agent)": "Mozilla/5.0%20(Windows%20NT%2010.0)",
        },
        {"cs-uri-stem": "/wp-login.php", "sc-status": "404", "c-ip": "2001:db8::7"},
    ]
    return [
        {**values, "time": f"23:59:{n:02d}", "x-edge-request-id": f"req-{n}=="}
        for n, values in enumerate(wanted)
    ]


def legacy_line(values: dict[str, str]) -> str:
    return line(FIELDS_33, **values)


def v2_record(values: dict[str, str], fields: list[str]) -> dict[str, str]:
    """The record CloudFront writes for ``values``: the selected fields only, in order."""
    full = dict(zip(FIELDS_33, legacy_line(values).split("\t"), strict=True))
    full.update(EXTRAS)
    stamp = datetime.fromisoformat(f"{full['date']}T{full['time']}+00:00")
    full["timestamp(ms)"] = str(int(stamp.timestamp() * 1000) + 417)  # milliseconds too
    return {name: full[name] for name in fields}


def with_numbers(record: dict[str, str]) -> dict[str, Any]:
    """The record with JSON numbers where a field holds one (some writers do so)."""
    numbers: dict[str, Any] = dict(record)
    for name in ("sc-status", "sc-bytes", "timestamp(ms)"):
        if name in numbers:
            numbers[name] = int(numbers[name])
    if "time-taken" in numbers:
        numbers["time-taken"] = float(numbers["time-taken"])
    return numbers


def rows_of(path: Path) -> tuple[Any, dict[str, list[dict[str, Any]]]]:
    """read_object's report, and its rows by table without where they came from."""
    report, out = read_object(find_sources([str(path)])[0], NOW)
    tables = {
        name: [
            {k: v for k, v in row.items() if k not in ("source_object", "source_line")}
            for part in parts
            for row in part.to_pylist()
        ]
        for name, parts in out.take().items()
    }
    return report, tables


def legacy_rows(tmp_path: Path) -> dict[str, list[dict[str, Any]]]:
    path = write_log(
        tmp_path / "legacy" / "E2EXAMPLE.gz", FIELDS_33, [legacy_line(v) for v in requests()]
    )
    report, tables = rows_of(path)
    assert (report.records_read, report.records_written, report.quarantined) == (7, 7, 0)
    return tables


def write_json(path: Path, records: list[dict[str, Any]], *, compress: bool) -> Path:
    return write_jsonl(path, [orjson.dumps(r) for r in records], compress=compress)


@pytest.mark.parametrize("fields", [SELECTED, WITH_TIMESTAMP], ids=["date-time", "timestamp"])
@pytest.mark.parametrize("numbers", [False, True], ids=["strings", "numbers"])
@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "plain"])
def test_json_gives_the_rows_of_the_legacy_log(
    tmp_path: Path, fields: list[str], numbers: bool, compress: bool
) -> None:
    records = [v2_record(v, fields) for v in requests()]
    path = write_json(
        tmp_path / HIVE / "E2EXAMPLE.2026-11-27-23.a1b2c3d4.json.gz",
        [with_numbers(r) for r in records] if numbers else records,
        compress=compress,
    )
    assert sniff(str(path)).format == "cloudfront"
    report, tables = rows_of(path)
    assert report.format == "cloudfront"
    assert (report.records_read, report.records_written, report.quarantined) == (7, 7, 0)
    assert tables == legacy_rows(tmp_path)
    _, out = read_object(find_sources([str(path)])[0], NOW)
    assert [r["source_line"] for r in out.all_rows("crl_fetches")] == [5]  # lines from 1


@pytest.mark.parametrize("typed", [False, True], ids=["strings", "typed"])
def test_parquet_gives_the_rows_of_the_legacy_log(tmp_path: Path, typed: bool) -> None:
    records = [v2_record(v, SELECTED) for v in requests()]
    columns: dict[str, pa.Array] = {
        PARQUET_NAMES[name]: pa.array([r[name] for r in records], pa.string()) for name in SELECTED
    }
    if typed:  # numbers stored as numbers, and values CloudFront left empty as nulls
        columns["sc_status"] = pa.array([int(r["sc-status"]) for r in records], pa.int32())
        columns["sc_bytes"] = pa.array([int(r["sc-bytes"]) for r in records], pa.int64())
        columns["time_taken"] = pa.array([float(r["time-taken"]) for r in records])
        columns["asn"] = pa.nulls(len(records), pa.string())
    path = tmp_path / HIVE / "E2EXAMPLE.2026-11-27-23.a1b2c3d4.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table(columns), path, row_group_size=3)  # several row groups
    assert sniff(str(path)).format == "cloudfront"
    report, tables = rows_of(path)
    assert report.format == "cloudfront"
    assert (report.records_read, report.records_written, report.quarantined) == (7, 7, 0)
    assert tables == legacy_rows(tmp_path)


def test_w3c_with_selected_fields_reads_by_its_header(tmp_path: Path) -> None:
    """v2's W3C output (tab-delimited) names its fields in #Fields like legacy files:
    the legacy reader already maps any selection and order (a guard, not a change)."""
    lines = ["\t".join(v2_record(v, SELECTED).values()) for v in requests()]
    path = write_log(tmp_path / HIVE / "E2EXAMPLE.2026-11-27-23.a1b2c3d4.gz", SELECTED, lines)
    report, tables = rows_of(path)
    assert (report.format, report.records_written, report.quarantined) == ("cloudfront", 7, 0)
    assert tables == legacy_rows(tmp_path)


def test_plain_output_names_no_fields_and_is_quarantined_whole(tmp_path: Path) -> None:
    """v2's "plain" output has no header: nothing says which column is which."""
    lines = ["\t".join(v2_record(v, SELECTED).values()) for v in requests()]
    path = tmp_path / HIVE / "E2EXAMPLE.2026-11-27-23.a1b2c3d4.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    report, out = read_object(find_sources([str(path)])[0], NOW)
    assert (report.format, report.records_written, report.quarantined) == ("unknown", 0, 1)
    assert "not a format certsight reads" in out.quarantined[0]["reason"]


def test_bad_json_records_are_quarantined_with_reasons(tmp_path: Path) -> None:
    good = orjson.dumps(v2_record(requests()[0], SELECTED))

    def bad(**values: Any) -> bytes:
        record: dict[str, Any] = v2_record(requests()[1], SELECTED)
        record.update(values)
        return orjson.dumps({k: v for k, v in record.items() if v is not ...})

    cases = [
        (b'{"date": "2026-11-27", "time":', "not JSON"),
        (b'["2026-11-27", "23:59:58"]', "line is JSON but not an object"),
        (bad(**{"cs-uri-stem": ...}), "cs-uri-stem is missing"),
        (bad(**{"sc-status": "2000"}), "sc-status is not a number of up to three digits"),
        (bad(date="28/11/2026"), "date/time not understood"),
        (bad(**{"cs-uri-stem": "/ocsp/!!!!"}), "GET path is not base64"),
        (bad(**{"c-ip": {"v4": "198.51.100.7"}}), "c-ip is not text or a number"),
        (bad(**{"sc-bytes": True}), "sc-bytes is not text or a number"),
        (bad(**{"cs(User-Agent)": "x" * 9000}), "cs(User-Agent) is over 8,192 characters"),
    ]
    path = write_jsonl(
        tmp_path / HIVE / "bad.json", [good, *[c for c, _ in cases], b"  ", good], compress=False
    )
    report, out = read_object(find_sources([str(path)])[0], NOW)
    assert report.format == "cloudfront"
    assert (report.records_read, report.records_written, report.quarantined) == (11, 2, 9)
    reasons = sorted(out.quarantined, key=lambda q: q["line"])
    for row, (raw, reason) in zip(reasons, cases, strict=True):
        assert reason in row["reason"], row["reason"]
        assert row["raw"] == raw.decode()[:2000] and row["source"] == "cloudfront"
    assert [q["line"] for q in reasons] == list(range(2, 11))
    assert [r["source_line"] for r in out.all_rows("ocsp_requests")] == [1, 12]


def test_records_need_not_carry_the_same_fields(tmp_path: Path) -> None:
    """Every record is read by its own keys: one without a field the others have, one
    with a field the first lacked, one spelling a field the real-time way."""
    records: list[dict[str, Any]] = [v2_record(v, SELECTED) for v in requests()]
    del records[0]["c-ip"]
    records[3]["cs-user-agent"] = records[3].pop("cs(User-Agent)")
    path = write_json(tmp_path / "mixed.json", records, compress=False)
    report, tables = rows_of(path)
    assert (report.records_read, report.records_written, report.quarantined) == (7, 7, 0)
    expected = legacy_rows(tmp_path)
    expected["ocsp_requests"][0]["client_ip"] = None  # the first request's row
    assert tables == expected


def test_bad_timestamps_are_quarantined_with_reasons(tmp_path: Path) -> None:
    records: list[dict[str, Any]] = [v2_record(v, WITH_TIMESTAMP) for v in requests()[:5]]
    records[1]["timestamp(ms)"] = "soon"
    records[2]["timestamp(ms)"] = 1.5
    records[3]["timestamp(ms)"] = "1" + "0" * 15  # the year 33658
    del records[4]["timestamp(ms)"]
    path = write_json(tmp_path / "ts.json.gz", records, compress=True)
    report, out = read_object(find_sources([str(path)])[0], NOW)
    assert (report.records_read, report.records_written, report.quarantined) == (5, 1, 4)
    not_whole = "timestamp(ms) is not a whole number of milliseconds (up to 14 digits)"
    assert [q["reason"] for q in sorted(out.quarantined, key=lambda q: q["line"])] == [
        not_whole,
        not_whole,
        not_whole,
        "date/time (or timestamp(ms)) is missing",
    ]


def test_bad_parquet_rows_are_quarantined_with_reasons(tmp_path: Path) -> None:
    records = [v2_record(v, SELECTED) for v in requests()[:5]]
    records[1]["sc-status"] = "abc"
    records[2]["cs-uri-stem"] = None  # type: ignore[assignment]
    records[3]["cs-uri-stem"] = "/ocsp/!!!!"
    records[3]["cs-method"] = "GET"  # the fourth request is a HEAD, which is not decoded
    table = pa.table({PARQUET_NAMES[n]: [r[n] for r in records] for n in SELECTED})
    path = tmp_path / "bad.parquet"
    pq.write_table(table, path)
    report, out = read_object(find_sources([str(path)])[0], NOW)
    assert (report.records_read, report.records_written, report.quarantined) == (5, 2, 3)
    quarantined = sorted(out.quarantined, key=lambda q: q["line"])
    assert [q["line"] for q in quarantined] == [2, 3, 4]
    assert [q["reason"] for q in quarantined][:2] == [
        "sc-status is not a number of up to three digits",
        "cs-uri-stem is missing",
    ]
    assert "GET path is not base64" in quarantined[2]["reason"]
    assert orjson.loads(quarantined[0]["raw"])["sc_status"] == "abc"  # the row, by its names

    clean = [v2_record(v, SELECTED) for v in requests()[:5]]
    without = [n for n in SELECTED if n != "sc-status"]  # a selection without it
    pq.write_table(pa.table({PARQUET_NAMES[n]: [r[n] for r in clean] for n in without}), path)
    report, out = read_object(find_sources([str(path)])[0], NOW)
    assert (report.records_read, report.records_written, report.quarantined) == (5, 0, 5)
    assert {q["reason"] for q in out.quarantined} == {"sc-status is missing"}


def test_truncated_gzip_keeps_every_record_before_the_cut(tmp_path: Path) -> None:
    stem = cloudfront_stem(vector("req-sha1.der"), "java")
    records = [
        v2_record({"cs-uri-stem": stem, "x-edge-request-id": f"id{n:06d}"}, SELECTED)
        for n in range(20_000)
    ]
    full = write_json(tmp_path / "full.json.gz", records, compress=True).read_bytes()
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(full[: len(full) // 2])
    report, out = read_object(find_sources([str(cut)])[0], NOW)
    assert report.format == "cloudfront" and report.records_written > 1000
    assert report.records_read == report.records_written + report.quarantined
    assert "truncated or corrupt gzip" in out.quarantined[-1]["reason"]
    delivered = out.all_rows("ocsp_requests")
    assert [r["request_id"] for r in delivered] == [f"id{n:06d}" for n in range(len(delivered))]
    assert [r["source_line"] for r in delivered] == list(range(1, 1 + len(delivered)))


def test_responder_logs_and_other_json_are_told_apart(pki_home: PkiHome, tmp_path: Path) -> None:
    """The responders' JSON lines stay responder logs (a guard: they were before)."""
    records = responder_records(pki_home)
    path = write_jsonl(tmp_path / "raw" / "ocsp.jsonl.gz", as_lines(records))
    report, out = read_object(find_sources([str(path)])[0], NOW)
    assert (report.format, report.records_written, report.quarantined) == ("json-lines", 5, 0)
    assert {r["source"] for r in out.all_rows("ocsp_requests")} == {"lambda"}
    # A record that names a field or two like CloudFront's is not a CloudFront log.
    other = write_jsonl(tmp_path / "raw" / "app.jsonl", [b'{"date": "2026-11-27", "msg": 1}'])
    assert sniff(str(other)).format == "json-lines"


def test_parquet_that_is_not_cloudfront_stays_unknown(tmp_path: Path) -> None:
    path = tmp_path / "lake-copy.parquet"
    pq.write_table(pa.table({"event_time": ["2026-11-27T23:59:58Z"], "client_ip": ["x"]}), path)
    report, out = read_object(find_sources([str(path)])[0], NOW)
    assert (report.format, report.quarantined) == ("unknown", 1)
    assert "not a format certsight reads" in out.quarantined[0]["reason"]


@pytest.fixture
def bucket(aws_env: str) -> str:
    name = f"certsight-{uuid.uuid4().hex[:10]}"
    boto3.session.Session().client("s3").create_bucket(Bucket=name)
    return name


def test_v2_deliveries_on_s3_are_ingested(tmp_path: Path, bucket: str) -> None:
    """JSON (gzip and plain) and Parquet under CloudFront's Hive-style keys, read from S3
    (Parquet by ranges), through the whole ingest into a LAKE."""
    records = [v2_record(v, SELECTED) for v in requests()]
    parquet = tmp_path / "delivery.parquet"
    pq.write_table(pa.table({PARQUET_NAMES[n]: [r[n] for r in records] for n in SELECTED}), parquet)
    client = boto3.session.Session().client("s3")
    key = f"{HIVE}/E2EXAMPLE.2026-11-27-23"
    client.put_object(Bucket=bucket, Key=f"{key}.aaaa.parquet", Body=parquet.read_bytes())
    client.put_object(
        Bucket=bucket,
        Key=f"{key}.bbbb.gz",
        Body=gzip.compress(b"\n".join(orjson.dumps(r) for r in records) + b"\n"),
    )
    client.put_object(  # plain: read line by line from S3's stream
        Bucket=bucket, Key=f"{key}.cccc.json", Body=b"\n".join(orjson.dumps(r) for r in records)
    )
    sources = find_sources([f"s3://{bucket}/AWSLogs/"])
    assert len(sources) == 3
    lake = Lake.at(str(tmp_path / "lake"))
    report = ingest(sources, lake, lambda: datetime.now(UTC))
    assert [(s.format, s.records_written, s.quarantined) for s in report.sources] == [
        ("cloudfront", 7, 0),
        ("cloudfront", 7, 0),
        ("cloudfront", 7, 0),
    ]
    expected = legacy_rows(tmp_path)
    assert lake.read("ocsp_requests").num_rows == 3 * len(expected["ocsp_requests"])
    assert lake.read("crl_fetches").num_rows == 3
