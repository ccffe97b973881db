"""One poisoned record never stops the ingest: it is quarantined with the field and the
reason, and its neighbours land (issue 10, item 7)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.formats.responder_logs import read_json_lines
from ingest.lake import Lake
from ingest.rows import ObjectRows
from ingest.run import ingest, read_object
from ingest.schema import TABLES
from ingest.sources import find_sources
from tests.ingest.conftest import write_jsonl
from tests.ingest.test_cloudfront import FIELDS_33, line, write_log

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _ocsp(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "log": "ocsp",
        "event_time": "2026-11-28T10:00:00.000001Z",
        "request_id": "r1",
        "client_ip": "192.0.2.7",
        "user_agent": "openssl",
        "http_method": "POST",
        "http_status": 200,
        "response_status": "successful",
        "nonce": False,
        "cache_hit": True,
        "latency_ms": 0.4,
        "request_bytes": 83,
        "response_bytes": 400,
        "path": "/ocsp",
        "cert_ids": [
            {
                "hash_algorithm": "sha1",
                "issuer_name_hash": "aa" * 20,
                "issuer_key_hash": "bb" * 20,
                "issuer_key_sha1": "bb" * 20,
                "serial": "0123",
                "cert_status": "good",
            }
        ],
    }
    record.update(changes)
    return record


def _cert_id(**changes: Any) -> dict[str, Any]:
    return {**_ocsp()["cert_ids"][0], **changes}


def _issued(**changes: Any) -> dict[str, Any]:
    return {
        "log": "issuance",
        "event": "issued",
        "event_time": "2026-11-28T09:00:00Z",
        "issuer_key_sha1": "bb" * 20,
        "serial": "0a0b",
        "subject": "CN=www.example.test",
        "sans": ["www.example.test"],
        "not_before": "2026-11-28T09:00:00Z",
        "not_after": "2027-01-14T09:00:00Z",
        **changes,
    }


def _crl(**changes: Any) -> dict[str, Any]:
    return {
        "log": "crl",
        "event_time": "2026-11-28T10:00:00Z",
        "http_method": "GET",
        "http_status": 200,
        "path": "/crl/issuing-ca.crl",
        "object": "crl",
        "crl_number": 7,
        "response_bytes": 900,
        **changes,
    }


def _line(record: Any) -> bytes:
    """As a writer other than ours might: integers of any size (orjson refuses those)."""
    return json.dumps(record).encode()


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


# Each poisoned record, and what its quarantine reason must name.
POISONED: list[tuple[str, bytes, str]] = [
    ("status beyond int32", _line(_ocsp(http_status=99999999999)), "http_status"),
    ("negative status", _line(_ocsp(http_status=-1)), "http_status"),
    ("status as text", _line(_ocsp(http_status="200")), "http_status"),
    ("bytes beyond int64", _line(_ocsp(request_bytes=2**63)), "request_bytes"),
    ("latency as text", _line(_ocsp(latency_ms="fast")), "latency_ms"),
    ("negative latency", _line(_ocsp(latency_ms=-3.5)), "latency_ms"),
    ("time before 1950", _line(_ocsp(event_time="0001-01-01T00:00:00Z")), "event_time"),
    (
        "time past year 9999 in UTC",
        _line(_ocsp(event_time="9999-12-31T23:30:00-05:00")),
        "event_time",
    ),
    ("cert_ids an object", _line(_ocsp(cert_ids={"serial": "01"})), "cert_ids"),
    ("cert_ids of lists", _line(_ocsp(cert_ids=[["01"]])), "cert_ids[0]"),
    (
        "non-hex serial",
        _line(_ocsp(cert_ids=[_cert_id(serial="xyz")])),
        "serial",
    ),
    (
        "one bad CertID of two",
        _line(_ocsp(cert_ids=[_cert_id(), _cert_id(serial="0G")])),
        "serial",
    ),
    ("over-long user agent", _line(_ocsp(user_agent="A" * 100_000)), "user_agent"),
    ("nested user agent", _line(_ocsp(user_agent=_nested(200))), "user_agent"),
    (
        "nesting past any parser's depth",
        b'{"log": "ocsp", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        "JSON",
    ),
    ("CRL number beyond int64", _line(_crl(crl_number=2**70)), "crl_number"),
    ("20,000 names", _line(_issued(sans=[f"h{i}.test" for i in range(20_000)])), "sans"),
    ("not_after past 9999 in UTC", _line(_issued(not_after="9999-12-31T23:00-05:00")), "not_after"),
]


def _good_lines() -> list[bytes]:
    return [
        _line(_ocsp()),
        _line(_crl()),
        _line(_issued(not_after="9999-12-31T23:59:59Z")),  # RFC 5280's "no expiry"
    ]


@pytest.mark.parametrize(("case", "line", "field"), POISONED, ids=[p[0] for p in POISONED])
def test_a_poisoned_record_is_quarantined_naming_its_field(
    case: str, line: bytes, field: str
) -> None:
    out = ObjectRows("s3://raw/x.jsonl.gz")
    numbered = list(enumerate([*_good_lines(), line, *_good_lines()], start=1))
    read_json_lines(numbered, out, NOW)
    tables = out.take()  # where a value Arrow cannot hold used to fail the whole run
    assert out.records_read == 7
    assert (out.records_written, out.quarantine_count) == (6, 1), case
    (quarantined,) = tables["quarantine"][0].to_pylist()
    assert quarantined["line"] == 4 and field in quarantined["reason"], quarantined["reason"]
    assert len(quarantined["raw"]) <= 2000
    assert sum(t.num_rows for t in tables["ocsp_requests"]) == 2  # both neighbours
    assert sum(t.num_rows for t in tables["certificates"]) == 2


def test_poisoned_objects_land_their_neighbours_and_later_runs_go_on(tmp_path: Path) -> None:
    """The whole ingest, twice: the first run lands every good record and quarantines
    each poisoned one; the next run is not stopped by the same objects."""
    raw = tmp_path / "raw"
    for index, (_, poisoned, _) in enumerate(POISONED):
        write_jsonl(raw / f"dt=2026-11-28/{index:02d}.jsonl.gz", [*_good_lines(), poisoned])
    lake = Lake.at(str(tmp_path / "lake"))
    report = ingest(find_sources([str(raw)]), lake, lambda: NOW)
    assert sum(s.quarantined for s in report.sources) == len(POISONED)
    assert sum(s.records_written for s in report.sources) == 3 * len(POISONED)
    assert lake.read("ocsp_requests").num_rows == len(POISONED)
    assert lake.read("quarantine").num_rows == len(POISONED)
    fresh = write_jsonl(raw / "dt=2026-11-28/later.jsonl.gz", _good_lines())
    again = ingest(find_sources([str(raw)]), lake, lambda: NOW)
    assert [s.uri for s in again.sources] == [str(fresh.resolve())]
    assert lake.read("ocsp_requests").num_rows == len(POISONED) + 1


# -- arbitrary records ---------------------------------------------------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_likely = st.sampled_from(
    [
        "2026-11-28T10:00:00Z",
        "1949-12-31T23:59:59+00:00",
        "9999-12-31T23:59:59-12:00",
        "2026-11-28T10:00:00",
        "00ff",
        "0",
        "GET",
        "/crl/x.crl",
        "crl",
        "ca-certificate",
        "successful",
    ]
)
_fields = [
    *TABLES["ocsp_requests"].names,
    *TABLES["certificates"].names,
    "log",
    "event",
    "object",
    "cert_ids",
    "crl_name",
    "crl_number",
    "ca_name",
    "not_modified",
    "certificate_pem",
]
_cert_id_record = st.dictionaries(
    st.sampled_from(["hash_algorithm", "issuer_key_sha1", "serial", "cert_status"]),
    _likely | _json_values,
    max_size=4,
)
_records = st.fixed_dictionaries(
    {"log": st.sampled_from(["ocsp", "crl", "issuance", "other"])},
    optional={
        "event": st.sampled_from(["issued", "renewed", "revoked", "other"]),
        "event_time": _likely | _json_values,
        "cert_ids": st.lists(_cert_id_record | _json_values, max_size=3) | _json_values,
    },
).flatmap(
    lambda base: st.dictionaries(st.sampled_from(_fields), _likely | _json_values, max_size=8).map(
        lambda extra: {**extra, **base}
    )
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(_records | _json_values, min_size=1, max_size=12))
def test_arbitrary_records_are_rows_or_quarantine_and_never_raise(records: list[Any]) -> None:
    out = ObjectRows("raw/fuzz.jsonl")
    numbered = list(enumerate((_line(record) for record in records), start=1))
    read_json_lines(numbered, out, NOW)
    tables = out.take()
    assert out.records_read == len(records)
    assert out.records_read == out.records_written + out.quarantine_count
    for name, parts in tables.items():
        for part in parts:  # every row the reader kept can be written as the LAKE writes
            assert part.schema.equals(TABLES[name].schema)
            pq.write_table(pa.Table.from_batches(part.to_batches(), part.schema), io.BytesIO())


# -- CloudFront standard logs: the same limits, line by line --------------------------

CDN_POISONED = [
    ({"sc-status": "99999999999"}, "sc-status"),
    ({"sc-bytes": "99999999999999999999999"}, "sc-bytes"),
    ({"time-taken": "1" * 400}, "time-taken"),
    ({"date": "1900-01-01"}, "date/time"),
    ({"cs(User-Agent)": "A" * 20_000}, "cs(User-Agent)"),
    ({"c-ip": "1" * 20_000}, "c-ip"),
]


@pytest.mark.parametrize(
    ("values", "field"), CDN_POISONED, ids=[next(iter(v)) for v, _ in CDN_POISONED]
)
def test_a_poisoned_cdn_line_is_quarantined_naming_its_field(
    tmp_path: Path, values: dict[str, str], field: str
) -> None:
    good = line(FIELDS_33, **{"cs-uri-stem": "/crl/issuing-ca.crl"})
    poisoned = line(FIELDS_33, **{"cs-uri-stem": "/crl/issuing-ca.crl", **values})
    path = write_log(tmp_path / "cdn.log", FIELDS_33, [good, poisoned, good], compress=False)
    report, rows = read_object(find_sources([str(path)])[0], NOW)
    tables = rows.take()  # the good lines still convert to their tables
    assert (report.records_read, report.records_written, report.quarantined) == (3, 2, 1)
    (quarantined,) = tables["quarantine"][0].to_pylist()
    assert sum(t.num_rows for t in tables["crl_fetches"]) == 2
    assert quarantined["line"] == 4 and field in quarantined["reason"], quarantined["reason"]
