"""The responders' JSON-lines logs (docs/access-logs.md) and certsight's issuance events.

One record per line. ``log`` says what it is: ``ocsp`` (one LAKE row per CertID),
``crl`` (CRL fetches, CA certificate downloads, other paths), ``download`` (the
publishing server's files: ``artifact_downloads``) or ``issuance``
(``issued`` -> certificates, ``revoked`` -> revocations). Lambda's Powertools lines
carry the same fields at the top level, with null keys left out, which reads the same.

OCSP records are most of the volume. They are read a chunk of lines at a time and
turned into columns in one go (:func:`_ocsp_columns`); checking each record field by
field and building a dict per row took three quarters of a responder log's time. A
chunk with anything that check does not pass is read record by record instead, which
gives each bad record its quarantine reason, so both give the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from cryptography import x509

from ingest.conform import arrow_problem
from ingest.formats.certificates import is_ca, issuer_row
from ingest.formats.published_paths import artifact_of
from ingest.reader import TruncatedObjectError
from ingest.rows import (
    ObjectRows,
    RecordError,
    flag,
    hex_text,
    integer,
    number,
    optional_timestamp,
    text,
    timestamp,
)
from ingest.schema import TABLES, TIMESTAMP

FORMAT = "responder-log"
CHUNK_LINES = 10_000


def read_json_lines(lines: Iterable[tuple[int, bytes]], out: ObjectRows, now: datetime) -> None:
    """``lines`` are (line number, bytes) pairs; blank lines are not records."""
    chunk: list[tuple[int, bytes]] = []
    try:
        for item in lines:
            chunk.append(item)
            if len(chunk) >= CHUNK_LINES:
                _read_chunk(chunk, out, now)
                chunk = []
    except TruncatedObjectError:
        _read_chunk(chunk, out, now)  # every line before the cut is read
        raise
    _read_chunk(chunk, out, now)


_Parsed = tuple[int, bytes, object]  # line number, line, record (or the JSON error)


def _read_chunk(chunk: list[tuple[int, bytes]], out: ObjectRows, now: datetime) -> None:
    parsed: list[_Parsed] = []
    for number_, raw_line in chunk:
        line = raw_line.rstrip(b"\r\n")
        if not line.strip():
            continue
        try:
            parsed.append((number_, line, orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            parsed.append((number_, line, exc))
    ocsp = [p for p in parsed if _is_ocsp(p[2])]
    columns = _ocsp_columns(ocsp, out.source_object) if ocsp else None
    if columns is not None:
        out.add_arrow("ocsp_requests", columns)
        out.records_read += len(ocsp)
        out.records_written += len(ocsp)
        parsed = [p for p in parsed if not _is_ocsp(p[2])]  # CRL and issuance records
    for number_, line, record in parsed:
        _read_record(number_, line, record, out, now)


def _is_ocsp(record: object) -> bool:
    return type(record) is dict and record.get("log") == "ocsp"


def _read_record(number_: int, line: bytes, record: object, out: ObjectRows, now: datetime) -> None:
    """One record, field by field: rows, or quarantine with the reason."""
    out.records_read += 1
    try:
        if isinstance(record, orjson.JSONDecodeError):
            raise record
        if not isinstance(record, dict):
            raise RecordError("line is JSON but not an object")
        _record(record, number_, out)
    except orjson.JSONDecodeError as exc:
        out.quarantine(FORMAT, number_, line, f"not JSON: {exc.msg}", now)
    except RecordError as exc:
        out.quarantine(FORMAT, number_, line, str(exc), now)
    else:
        out.records_written += 1


class _NotPlain(Exception):
    """A value the column-wise reader leaves to the record-by-record one."""


_STRING: frozenset[type] = frozenset({str, type(None)})
# Types are compared exactly, as the record-by-record checks do: True is a bool, not an int.
_INTEGER: frozenset[type] = frozenset({int, type(None)})
_NUMBER: frozenset[type] = frozenset({int, float, type(None)})
_FLAG: frozenset[type] = frozenset({bool, type(None)})
_CERT_IDS: frozenset[type] = frozenset({list, type(None)})
_HEX = r"\A(?:[0-9a-f]{2})+\z"
# The ISO 8601 times that datetime.fromisoformat and Arrow read alike (checked by
# tests); any other spelling goes the record-by-record way.
_PLAIN_TIME = (
    r"\A[1-9]\d{3}-\d{2}-\d{2}T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)\z"
)
_TOP: dict[str, tuple[frozenset[type], pa.DataType]] = {
    "request_id": (_STRING, pa.string()),
    "cf_request_id": (_STRING, pa.string()),
    "client_ip": (_STRING, pa.string()),
    "user_agent": (_STRING, pa.string()),
    "http_method": (_STRING, pa.string()),
    "http_status": (_INTEGER, pa.int64()),
    "response_status": (_STRING, pa.string()),
    "nonce": (_FLAG, pa.bool_()),
    "cache_hit": (_FLAG, pa.bool_()),
    "latency_ms": (_NUMBER, pa.float64()),
    "request_bytes": (_INTEGER, pa.int64()),
    "response_bytes": (_INTEGER, pa.int64()),
    "path": (_STRING, pa.string()),
}
_CERT = ["hash_algorithm", "issuer_name_hash", "issuer_key_hash", "issuer_key_sha1", "serial"]
_CERT_HEX = {"issuer_name_hash", "issuer_key_hash", "issuer_key_sha1", "serial"}


def _values(records: list[dict[str, Any]], name: str, kinds: frozenset[type]) -> list[Any]:
    values = [record.get(name) for record in records]
    if not set(map(type, values)) <= kinds:
        raise _NotPlain(name)
    return values


def _ocsp_columns(parsed: list[_Parsed], source_object: str) -> pa.Table | None:
    """The ``ocsp_requests`` rows of these OCSP records, as :func:`_ocsp` makes them one
    by one; None when any record needs the record-by-record reader (a value of an
    unexpected type or spelling, which may be a reason to quarantine it)."""
    records = cast(list[dict[str, Any]], [p[2] for p in parsed])
    try:
        return _ocsp_table(records, [p[0] for p in parsed], source_object)
    except (_NotPlain, pa.ArrowException, ValueError, TypeError, OverflowError):
        return None


def _ocsp_table(records: list[dict[str, Any]], numbers: list[int], source_object: str) -> pa.Table:
    """Raises _NotPlain (or Arrow's conversion errors) at the first unexpected value."""
    times = pa.array(_values(records, "event_time", frozenset({str})), pa.string())
    if not pc.all(pc.match_substring_regex(times, _PLAIN_TIME)).as_py():
        raise _NotPlain("event_time")
    columns: dict[str, pa.Array] = {"event_time": times.cast(TIMESTAMP)}
    for name, (kinds, kind) in _TOP.items():
        columns[name] = pa.array(_values(records, name, kinds), kind)
    sources = _values(records, "source", _STRING)
    columns["source"] = pa.array([source or "lambda" for source in sources], pa.string())
    columns["source_object"] = pa.array([source_object] * len(records), pa.string())
    columns["source_line"] = pa.array(numbers, pa.int64())

    # One row per CertID; a record without any still makes one row, without CertID fields.
    cert_lists = _values(records, "cert_ids", _CERT_IDS)
    cert_ids = [cert_id for listed in cert_lists if listed for cert_id in listed]
    if not set(map(type, cert_ids)) <= {dict}:
        raise _NotPlain("cert_ids")
    sizes = np.fromiter((len(c) if c else 0 for c in cert_lists), np.int64, len(cert_lists))
    repeat = np.maximum(sizes, 1)
    rows = pa.array(np.repeat(np.arange(len(records)), repeat)) if (sizes != 1).any() else None
    for name, values in columns.items():
        columns[name] = values if rows is None else values.take(rows)
    has_cert = np.repeat(sizes > 0, repeat)
    position = np.full(len(has_cert), -1, np.int64)
    position[has_cert] = np.arange(len(cert_ids))
    gather = None if rows is None else pa.array(position, mask=position < 0)
    for name in [*_CERT, "cert_status"]:
        values = pa.array(_values(cert_ids, name, _STRING), pa.string())
        # Each distinct value checked once: the same issuers and serials recur.
        if (
            name in _CERT_HEX
            and not pc.all(pc.match_substring_regex(values.unique(), _HEX), min_count=0).as_py()
        ):
            raise _NotPlain(name)
        if name == "serial" and values.null_count:
            raise _NotPlain(name)
        columns[name] = values if gather is None else values.take(gather)
    schema = TABLES["ocsp_requests"].schema
    count = len(has_cert)
    table = pa.Table.from_arrays(
        [
            columns[f.name].cast(f.type) if f.name in columns else pa.nulls(count, f.type)
            for f in schema
        ],
        schema=schema,
    )
    if arrow_problem("ocsp_requests", table) is not None:
        raise _NotPlain("a value out of its column's range")
    return table


def _origin(record: dict[str, Any], line: int, out: ObjectRows, source: str) -> dict[str, Any]:
    return {"source": source, "source_object": out.source_object, "source_line": line}


def _request(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_time": timestamp(record.get("event_time"), "event_time"),
        "request_id": text(record.get("request_id"), "request_id"),
        "cf_request_id": text(record.get("cf_request_id"), "cf_request_id"),
        "client_ip": text(record.get("client_ip"), "client_ip"),
        "user_agent": text(record.get("user_agent"), "user_agent"),
        "http_method": text(record.get("http_method"), "http_method"),
        "http_status": integer(record.get("http_status"), "http_status"),
    }


def _record(record: dict[str, Any], line: int, out: ObjectRows) -> None:
    kind = record.get("log")
    if kind == "ocsp":
        _ocsp(record, line, out)
    elif kind == "crl":
        _http_download(record, line, out)
    elif kind == "download":
        _download(record, line, out)
    elif kind == "issuance":
        _issuance(record, line, out)
    else:
        raise RecordError(f"unknown record kind log={str(kind)[:40]!r}")


def _ocsp(record: dict[str, Any], line: int, out: ObjectRows) -> None:
    base = {
        **_request(record),
        "response_status": text(record.get("response_status"), "response_status"),
        "nonce": flag(record.get("nonce"), "nonce"),
        "cache_hit": flag(record.get("cache_hit"), "cache_hit"),
        "latency_ms": number(record.get("latency_ms"), "latency_ms"),
        "request_bytes": integer(record.get("request_bytes"), "request_bytes"),
        "response_bytes": integer(record.get("response_bytes"), "response_bytes"),
        "path": text(record.get("path"), "path"),
        **_origin(record, line, out, text(record.get("source"), "source") or "lambda"),
    }
    cert_ids = record.get("cert_ids") or []
    if not isinstance(cert_ids, list):
        raise RecordError("cert_ids is not a list")
    rows = []
    for index, cert_id in enumerate(cert_ids):
        if not isinstance(cert_id, dict):
            raise RecordError(f"cert_ids[{index}] is not an object")
        rows.append(
            {
                **base,
                "hash_algorithm": text(cert_id.get("hash_algorithm"), "hash_algorithm"),
                "issuer_name_hash": hex_text(cert_id.get("issuer_name_hash"), "issuer_name_hash"),
                "issuer_key_hash": hex_text(cert_id.get("issuer_key_hash"), "issuer_key_hash"),
                "issuer_key_sha1": hex_text(cert_id.get("issuer_key_sha1"), "issuer_key_sha1"),
                "serial": hex_text(cert_id.get("serial"), "serial", required=True),
                "cert_status": text(cert_id.get("cert_status"), "cert_status"),
            }
        )
    if not rows:  # malformed or refused: no CertID, but the load still counts
        rows.append(
            {
                **base,
                "hash_algorithm": None,
                "issuer_name_hash": None,
                "issuer_key_hash": None,
                "issuer_key_sha1": None,
                "serial": None,
                "cert_status": None,
            }
        )
    out.add_all([("ocsp_requests", row) for row in rows])  # every CertID's row, or none


def _http_download(record: dict[str, Any], line: int, out: ObjectRows) -> None:
    path = text(record.get("path"), "path", required=True) or ""
    common = {
        **_request(record),
        "path": path,
        **_origin(record, line, out, text(record.get("source"), "source") or "lambda"),
    }
    size = integer(record.get("response_bytes"), "response_bytes")
    kind = record.get("object")
    if kind == "crl" or (kind is None and path.startswith("/crl/")):
        not_modified = flag(record.get("not_modified"), "not_modified")
        out.add(
            "crl_fetches",
            {
                **common,
                "crl_name": text(record.get("crl_name"), "crl_name")
                or path.removeprefix("/crl/").removesuffix(".crl"),
                "issuer_key_sha1": hex_text(record.get("issuer_key_sha1"), "issuer_key_sha1"),
                "crl_number": integer(record.get("crl_number"), "crl_number"),
                "bytes": size,
                "cache_hit": not_modified,
                "latency_ms": number(record.get("latency_ms"), "latency_ms"),
            },
        )
        return
    if kind == "ca-certificate":
        name = text(record.get("ca_name"), "ca_name")
        artifact = "ca-certificate"
    elif kind is None:
        name, artifact = path, "other"
    else:
        raise RecordError(f"unknown object {str(kind)[:40]!r}")
    out.add(
        "artifact_downloads",
        {
            **common,
            "kind": artifact,
            "name": name,
            "version": None,
            "channel": None,
            "bytes": size,
        },
    )


def _download(record: dict[str, Any], line: int, out: ObjectRows) -> None:
    """``certsight serve publishing``: one ``artifact_downloads`` row per request, its
    kind, name, version and channel read from the path as for CloudFront's logs."""
    path = text(record.get("path"), "path", required=True) or ""
    kind, name, version, channel = artifact_of(path)
    out.add(
        "artifact_downloads",
        {
            **_request(record),
            "path": path,
            **_origin(record, line, out, text(record.get("source"), "source") or "lambda"),
            "kind": kind,
            "name": name,
            "version": version,
            "channel": channel,
            "bytes": integer(record.get("response_bytes"), "response_bytes"),
        },
    )


def _authority(pem: object) -> x509.Certificate | None:
    """The certificate an issuance event carries, when it is a CA's. An unreadable PEM
    leaves the certificate row as it is (the event's own fields describe it)."""
    if not isinstance(pem, str) or "BEGIN CERTIFICATE" not in pem:
        return None
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        return None
    return certificate if is_ca(certificate) else None


def _issuance(record: dict[str, Any], line: int, out: ObjectRows) -> None:
    event = record.get("event")
    origin = _origin(record, line, out, "certsight")
    identity = {
        "issuer_key_sha1": hex_text(
            record.get("issuer_key_sha1"), "issuer_key_sha1", required=True
        ),
        "serial": hex_text(record.get("serial"), "serial", required=True),
    }
    if event in ("issued", "renewed"):  # a renewal is a new certificate like any other
        sans = record.get("sans") or []
        if not isinstance(sans, list) or not all(isinstance(s, str) for s in sans):
            raise RecordError("sans is not a list of strings")
        made: list[tuple[str, dict[str, Any]]] = [
            (
                "certificates",
                {
                    **identity,
                    "subject": text(record.get("subject"), "subject"),
                    "sans": sans,
                    "not_before": optional_timestamp(record.get("not_before"), "not_before"),
                    "not_after": optional_timestamp(record.get("not_after"), "not_after"),
                    "key_algorithm": text(record.get("key_algorithm"), "key_algorithm"),
                    "profile": text(record.get("profile"), "profile"),
                    "requester": text(record.get("requester"), "requester"),
                    "ca_backend": text(record.get("ca_backend"), "ca_backend"),
                    "issued_at": timestamp(
                        record.get("issued_at") or record.get("event_time"), "issued_at"
                    ),
                    **origin,
                },
            )
        ]
        authority = _authority(record.get("certificate_pem"))
        if authority is not None:  # a CA certsight issued: CertIDs will name it
            made.append(("issuers", issuer_row(authority, origin, line)))
        out.add_all(made)
    elif event == "revoked":
        out.add(
            "revocations",
            {
                **identity,
                "revoked_at": timestamp(record.get("revoked_at"), "revoked_at"),
                "revocation_reason": text(record.get("revocation_reason"), "revocation_reason"),
                **origin,
            },
        )
    else:
        raise RecordError(f"unknown issuance event {str(event)[:40]!r}")
