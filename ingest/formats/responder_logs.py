"""The responders' JSON-lines logs (docs/access-logs.md) and certsight's issuance events.

One record per line. ``log`` says what it is: ``ocsp`` (one LAKE row per CertID),
``crl`` (CRL fetches, CA certificate downloads, other paths) or ``issuance``
(``issued`` -> certificates, ``revoked`` -> revocations). Lambda's Powertools lines
carry the same fields at the top level, with null keys left out, which reads the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson

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

FORMAT = "responder-log"


def read_json_lines(lines: Iterable[tuple[int, bytes]], out: ObjectRows, now: datetime) -> None:
    """``lines`` are (line number, bytes) pairs; blank lines are not records."""
    for number_, raw_line in lines:
        line = raw_line.rstrip(b"\r\n")
        if not line.strip():
            continue
        out.records_read += 1
        try:
            record = orjson.loads(line)
            if not isinstance(record, dict):
                raise RecordError("line is JSON but not an object")
            _record(record, number_, out)
        except orjson.JSONDecodeError as exc:
            out.quarantine(FORMAT, number_, line, f"not JSON: {exc.msg}", now)
        except RecordError as exc:
            out.quarantine(FORMAT, number_, line, str(exc), now)
        else:
            out.records_written += 1


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
    for row in rows:  # only once every CertID has passed its checks
        out.add("ocsp_requests", row)


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


def _issuance(record: dict[str, Any], line: int, out: ObjectRows) -> None:
    event = record.get("event")
    origin = _origin(record, line, out, "certsight")
    identity = {
        "issuer_key_sha1": hex_text(
            record.get("issuer_key_sha1"), "issuer_key_sha1", required=True
        ),
        "serial": hex_text(record.get("serial"), "serial", required=True),
    }
    if event == "issued":
        sans = record.get("sans") or []
        if not isinstance(sans, list) or not all(isinstance(s, str) for s in sans):
            raise RecordError("sans is not a list of strings")
        out.add(
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
