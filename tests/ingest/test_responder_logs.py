"""Responder logs and issuance events into rows, and bad input into quarantine."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from ingest.formats.responder_logs import _read_record
from ingest.reader import lines, sniff
from ingest.rows import ObjectRows
from ingest.run import read_object
from ingest.sources import find_sources
from tests.conftest import PkiHome
from tests.ingest.conftest import as_lines, issuance_records, responder_records, write_jsonl

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_every_record_shape_becomes_rows(pki_home: PkiHome, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "raw" / "a.jsonl.gz", as_lines(responder_records(pki_home)))
    report, rows = read_object(find_sources([str(path)])[0], NOW)
    assert (report.records_read, report.records_written, report.quarantined) == (5, 5, 0)
    ocsp = rows.all_rows("ocsp_requests")
    assert len(ocsp) == 3  # two CertIDs, and one row for the malformed request
    assert [r["cert_status"] for r in ocsp] == ["good", "revoked", None]
    assert [r["hash_algorithm"] for r in ocsp] == ["sha1", "sha256", None]
    assert ocsp[0]["serial"] == pki_home.good_serial and ocsp[1]["serial"] == (
        pki_home.revoked_serial
    )
    assert ocsp[2]["response_status"] == "malformedRequest" and ocsp[2]["serial"] is None
    assert ocsp[0]["event_time"].tzinfo is not None and ocsp[0]["source"] == "lambda"
    assert {r["source_line"] for r in ocsp} == {1, 2}
    crl = rows.rows["crl_fetches"]
    assert len(crl) == 1 and crl[0]["crl_name"] == "issuing-ca" and crl[0]["crl_number"] >= 1
    assert (
        crl[0]["cf_request_id"] == "cf1=="
        and crl[0]["issuer_key_sha1"] == (ocsp[0]["issuer_key_sha1"])
    )
    downloads = rows.rows["artifact_downloads"]
    assert [(d["kind"], d["name"]) for d in downloads] == [
        ("ca-certificate", "root-ca"),
        ("other", "/wp-admin"),
    ]


def test_issuance_events_become_inventory_and_revocations(
    pki_home: PkiHome, tmp_path: Path
) -> None:
    events = issuance_records(pki_home)
    path = write_jsonl(tmp_path / "events.jsonl.gz", as_lines(events))
    _, rows = read_object(find_sources([str(path)])[0], NOW)
    serials = {r["serial"] for r in rows.rows["certificates"]}
    assert {pki_home.good_serial, pki_home.revoked_serial} <= serials
    profiles = {r["profile"] for r in rows.rows["certificates"]}
    assert {"tls-server", "sub-ca", "ocsp-signer"} <= profiles
    [revocation] = rows.rows["revocations"]
    assert revocation["serial"] == pki_home.revoked_serial
    assert revocation["revocation_reason"] == "keyCompromise"
    good = next(r for r in rows.rows["certificates"] if r["serial"] == pki_home.good_serial)
    assert good["sans"] == ["good.example.test"] and good["not_after"] > good["not_before"]
    # The issuing CA certsight made is an issuer too: CertIDs name it by these hashes.
    [issuer] = rows.rows["issuers"]
    sub_ca = next(r for r in rows.rows["certificates"] if r["profile"] == "sub-ca")
    assert issuer["issuer_key_sha1"] == good["issuer_key_sha1"]
    assert issuer["subject"] == sub_ca["subject"] and not issuer["self_signed"]
    assert len(issuer["name_sha256"]) == 64 and issuer["source_line"] == sub_ca["source_line"]


BAD = [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "not an object"),
    (b'{"log": "smtp"}', "unknown record kind"),
    (b'{"log": "ocsp", "event_time": "yesterday"}', "event_time is not an ISO 8601 time"),
    (b'{"log": "ocsp"}', "event_time is missing"),
    (
        b'{"log": "ocsp", "event_time": "2026-11-28T10:00:00Z", "cert_ids": {"a": 1}}',
        "cert_ids is not a list",
    ),
    (
        b'{"log": "ocsp", "event_time": "2026-11-28T10:00:00Z", "cert_ids": [{"serial": "ABC"}]}',
        "serial is not lowercase even-length hex",
    ),
    (
        b'{"log": "ocsp", "event_time": "2026-11-28T10:00:00Z", "http_status": "200"}',
        "http_status is not an integer",
    ),
    (
        b'{"log": "issuance", "event": "renamed", "issuer_key_sha1": "ab", "serial": "01"}',
        "unknown issuance event",
    ),
    (
        b'{"log": "crl", "event_time": "2026-11-28T10:00:00", "path": "/crl/x.crl"}',
        "has no time zone",
    ),
]


def test_bad_records_are_quarantined_with_reason_and_line(tmp_path: Path) -> None:
    good = b'{"log": "ocsp", "event_time": "2026-11-28T10:00:00.000001Z", "cert_ids": []}'
    path = write_jsonl(
        tmp_path / "mixed.jsonl", [good, *[b for b, _ in BAD], b"", good], compress=False
    )
    report, rows = read_object(find_sources([str(path)])[0], NOW)
    assert report.records_read == len(BAD) + 2
    assert report.records_written == 2 and report.quarantined == len(BAD)
    for row, (raw, reason) in zip(rows.quarantined, BAD, strict=True):
        assert reason in row["reason"], (row["reason"], reason)
        assert row["raw"] == raw.decode()
    assert [q["line"] for q in rows.quarantined] == list(range(2, 2 + len(BAD)))


def test_truncated_gzip_keeps_what_was_readable(pki_home: PkiHome, tmp_path: Path) -> None:
    records = responder_records(pki_home) * 400
    data = gzip.compress(b"\n".join(as_lines(records)) + b"\n")
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    report, rows = read_object(find_sources([str(path)])[0], NOW)
    assert 0 < report.records_written < len(records)
    assert report.records_read == report.records_written + report.quarantined
    assert "truncated or corrupt gzip" in rows.quarantined[-1]["reason"]


def test_formats_are_told_by_content_not_name(tmp_path: Path) -> None:
    (tmp_path / "log.txt").write_bytes(gzip.compress(b'{"log": "ocsp"}\n'))
    (tmp_path / "x.jsonl.gz").write_bytes(b"#Version: 1.0\n#Fields: date time\n")
    (tmp_path / "y.json").write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "z").write_bytes(b"\x00\x01 binary junk")
    (tmp_path / "empty.gz").write_bytes(gzip.compress(b""))
    kinds = {p.name: sniff(str(p)).format for p in tmp_path.iterdir()}
    assert kinds == {
        "log.txt": "json-lines",
        "x.jsonl.gz": "cloudfront",
        "y.json": "pem",
        "z": "unknown",
        "empty.gz": "empty",
    }
    report, _ = read_object(find_sources([str(tmp_path / "z")])[0], NOW)
    assert report.quarantined == 1 and report.records_read == 1


def test_sources_skip_hidden_and_temporary_files(tmp_path: Path) -> None:
    (tmp_path / "dt=2026-11-28").mkdir()
    (tmp_path / "dt=2026-11-28" / "a.jsonl.gz").write_bytes(b"x")
    (tmp_path / "dt=2026-11-28" / ".a.jsonl.gz.tmp").write_bytes(b"x")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "b").write_bytes(b"x")
    found = find_sources([str(tmp_path)])
    assert [Path(f.uri).name for f in found] == ["a.jsonl.gz"]
    assert [Path(f.uri).name for f in find_sources([str(tmp_path / "dt=*" / "*.gz")])] == [
        "a.jsonl.gz"
    ]


def test_lines_number_from_one(tmp_path: Path) -> None:
    path = tmp_path / "p"
    path.write_bytes(b"a\nb\n")
    assert list(lines(str(path), compressed=False)) == [(1, b"a\n"), (2, b"b\n")]
    with pytest.raises(ValueError, match="no such file"):
        find_sources([str(tmp_path / "missing")])
    assert orjson.loads(b"{}") == {}


def test_a_big_object_is_handed_on_in_pieces(pki_home: PkiHome, tmp_path: Path) -> None:
    pieces: list[dict[str, list[pa.Table]]] = []
    out = ObjectRows("x", spill=pieces.append, spill_rows=3)
    for index in range(7):
        out.add(
            "artifact_downloads",
            {"event_time": NOW, "path": f"/{index}", "source": "test", "source_object": "x"},
        )
    out.quarantine("f", 8, b"bad", "why", NOW)
    rest = out.take()
    assert [sum(t.num_rows for t in p["artifact_downloads"]) for p in pieces] == [3, 3]
    assert rest["artifact_downloads"][0].column("path").to_pylist() == ["/6"]
    assert rest["quarantine"][0].num_rows == 1
    assert out.row_counts() == {"artifact_downloads": 7} and out.quarantine_count == 1


def read_record_by_record(path: Path) -> ObjectRows:
    """What the record-by-record reader alone makes of a file: the reference for the
    column-wise one."""
    out = ObjectRows(str(path))
    for number, raw in lines(str(path), compressed=False):
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        try:
            record: object = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            record = exc
        _read_record(number, line, record, out, NOW)
    return out


def as_dicts(out: ObjectRows) -> dict[str, list[dict[str, object]]]:
    return {
        name: [row for table in tables for row in table.to_pylist()]
        for name, tables in out.take().items()
    }


def variants(record: dict[str, object]) -> dict[str, dict[str, object]]:
    """An OCSP record respelled: ways the column-wise reader takes, and ways it leaves to
    the record-by-record one (which reads or quarantines them)."""
    first = dict(record["cert_ids"][0])  # type: ignore[index]
    return {
        "as written": record,
        "null keys left out": {k: v for k, v in record.items() if v is not None},
        "offset time": {**record, "event_time": "2026-11-28T11:00:00.25+01:00"},
        "whole seconds": {**record, "event_time": "2026-11-28T10:00:00Z"},
        "space in time": {**record, "event_time": "2026-11-28 10:00:00Z"},
        "basic time": {**record, "event_time": "20261128T100000Z"},
        "offset without colon": {**record, "event_time": "2026-11-28T10:00:00+0100"},
        "no time zone": {**record, "event_time": "2026-11-28T10:00:00"},
        "empty source": {**record, "source": ""},
        "no source": {k: v for k, v in record.items() if k != "source"},
        "status as bool": {**record, "http_status": True},
        "status as float": {**record, "http_status": 200.0},
        "status as text": {**record, "http_status": "200"},
        "latency as int": {**record, "latency_ms": 3},
        "latency as bool": {**record, "latency_ms": True},
        "nonce as int": {**record, "nonce": 1},
        "cert_ids empty object": {**record, "cert_ids": {}},
        "cert_ids empty text": {**record, "cert_ids": ""},
        "cert_ids text": {**record, "cert_ids": "x"},
        "cert_id not an object": {**record, "cert_ids": [first, 7]},
        "upper-case serial": {**record, "cert_ids": [{**first, "serial": "ABCD"}]},
        "no serial": {**record, "cert_ids": [{k: v for k, v in first.items() if k != "serial"}]},
        "odd issuer hash": {**record, "cert_ids": [{**first, "issuer_key_hash": "abc"}]},
        "two CertIDs": {**record, "cert_ids": [first, {**first, "serial": "0102"}]},
        "unknown fields": {**record, "extra": {"nested": [1, 2]}},
    }


@pytest.mark.parametrize("chunk", [3, 10_000])
def test_column_wise_reading_gives_what_record_by_record_reading_gives(
    pki_home: PkiHome, tmp_path: Path, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ingest.formats.responder_logs.CHUNK_LINES", chunk)
    records = responder_records(pki_home)
    plain = as_lines(records)
    template = next(r for r in records if r["log"] == "ocsp" and r["cert_ids"])
    for name, variant in variants(template).items():
        path = write_jsonl(
            tmp_path / f"{name}.jsonl", [*plain, orjson.dumps(variant), *plain], compress=False
        )
        report, rows = read_object(find_sources([str(path)])[0], NOW)
        expected = read_record_by_record(path)
        assert (report.records_read, report.records_written, report.quarantined) == (
            expected.records_read,
            expected.records_written,
            expected.quarantine_count,
        ), name
        assert as_dicts(rows) == as_dicts(expected), name
    # Clean records are read column-wise, not one by one.
    _, rows = read_object(find_sources([str(tmp_path / "as written.jsonl")])[0], NOW)
    assert "ocsp_requests" not in rows.rows and rows.arrow["ocsp_requests"]


def test_rows_keep_their_order_when_chunks_are_read_both_ways(
    pki_home: PkiHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ingest.formats.responder_logs.CHUNK_LINES", 2)
    template = next(r for r in responder_records(pki_home) if r["log"] == "ocsp")
    bad = {**template, "http_status": "200"}  # its chunk is read record by record
    path = write_jsonl(
        tmp_path / "mixed.jsonl",
        [orjson.dumps(r) for r in [template, bad, template, template, bad, template, template]],
        compress=False,
    )
    report, rows = read_object(find_sources([str(path)])[0], NOW)
    assert (report.records_written, report.quarantined) == (5, 2)
    per_record = len(template["cert_ids"]) or 1
    taken = [n for t in rows.take()["ocsp_requests"] for n in t.column("source_line").to_pylist()]
    assert taken == [n for n in (1, 3, 4, 6, 7) for _ in range(per_record)]
