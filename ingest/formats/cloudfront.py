"""CloudFront standard access logs (W3C, tab-separated) into LAKE rows.

Columns are found by the ``#Fields:`` header, so files of every era (24, 26 or 33
fields) read alike, and a header repeated mid-file (concatenated logs) is obeyed.
CloudFront percent-encodes values: each value is decoded exactly once for that,
and an OCSP GET path once more for the client's own encoding; ``+`` is never a
space. Each distinct OCSP request string is decoded once per ingest run: the same
certificate's GET URL repeats millions of times.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from ingest.formats.ocsp_der import DecodedRequest, RequestError, decode_get_path, decode_request
from ingest.rows import ObjectRows, RecordError

FORMAT = "cloudfront"
SOURCE = "cloudfront"
HITS = {"Hit", "RefreshHit", "OriginShieldHit"}
ARTIFACT_KINDS = {
    "truststore": "truststore",
    "agent": "agent",
    "docs": "doc",
    "ca": "ca-certificate",
}
_VERSION = re.compile(r"\d+\.\d+(?:\.\d+)*")
REQUIRED = ("date", "time", "cs-method", "cs-uri-stem", "sc-status")

RequestCache = dict[str, "DecodedRequest | RequestError"]


def read_cloudfront(
    lines: Iterable[tuple[int, bytes]], out: ObjectRows, now: datetime, requests: RequestCache
) -> None:
    fields: list[str] | None = None
    for number, raw_line in lines:
        line = raw_line.rstrip(b"\r\n")
        if not line.strip():
            continue
        if line.startswith(b"#"):
            if line.startswith(b"#Fields:"):
                fields = line[len(b"#Fields:") :].decode("ascii", errors="replace").split()
            continue
        out.records_read += 1
        try:
            if fields is None:
                raise RecordError("log line before any #Fields header")
            values = line.decode("utf-8").split("\t")
            if len(values) != len(fields):
                raise RecordError(
                    f"{len(values)} fields where the #Fields header names {len(fields)}"
                )
            _line(dict(zip(fields, values, strict=True)), number, out, requests)
        except UnicodeDecodeError:
            out.quarantine(FORMAT, number, line, "line is not UTF-8", now)
        except RecordError as exc:
            out.quarantine(FORMAT, number, line, str(exc), now)
        else:
            out.records_written += 1


def _value(row: dict[str, str], name: str) -> str | None:
    value = row.get(name)
    return None if value in (None, "-", "") else value


def _decoded(row: dict[str, str], name: str) -> str | None:
    value = _value(row, name)
    return None if value is None else unquote(value)  # once: CloudFront's own encoding


def _int(row: dict[str, str], name: str) -> int | None:
    value = _value(row, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise RecordError(f"{name} is not a number: {value[:20]!r}") from None


def _line(row: dict[str, str], number: int, out: ObjectRows, requests: RequestCache) -> None:
    missing = [name for name in REQUIRED if _value(row, name) is None]
    if missing:
        raise RecordError(f"missing {', '.join(missing)}")
    try:
        event_time = datetime.fromisoformat(f"{row['date']}T{row['time']}").replace(tzinfo=UTC)
    except ValueError:
        raise RecordError(f"date/time not understood: {row['date']} {row['time']}") from None
    taken = _value(row, "time-taken")
    try:
        latency = None if taken is None else float(taken) * 1000
    except ValueError:
        raise RecordError(f"time-taken is not a number: {str(taken)[:20]!r}") from None
    request_id = _value(row, "x-edge-request-id")
    size = _int(row, "sc-bytes")
    common: dict[str, Any] = {
        "event_time": event_time,
        "request_id": request_id,
        "cf_request_id": request_id,
        "client_ip": _value(row, "c-ip"),
        "user_agent": _decoded(row, "cs(User-Agent)"),
        "http_method": row["cs-method"],
        "http_status": _int(row, "sc-status"),
        "source": SOURCE,
        "source_object": out.source_object,
        "source_line": number,
    }
    cache_hit = row.get("x-edge-result-type") in HITS
    raw_stem = row["cs-uri-stem"]
    path = unquote(raw_stem)
    if path == "/ocsp" or path.startswith("/ocsp/"):
        _ocsp(common, path, raw_stem, cache_hit, latency, size, out, requests)
    elif path.startswith("/crl/"):
        out.add(
            "crl_fetches",
            {
                **common,
                "path": path,
                "crl_name": path.removeprefix("/crl/").removesuffix(".crl"),
                "issuer_key_sha1": None,
                "crl_number": None,
                "bytes": size,
                "cache_hit": cache_hit,
                "latency_ms": latency,
            },
        )
    else:
        segments = [s for s in path.split("/") if s]
        kind = ARTIFACT_KINDS.get(segments[0], "other") if segments else "other"
        version = _VERSION.search(path) if kind != "other" else None
        out.add(
            "artifact_downloads",
            {
                **common,
                "path": path,
                "kind": kind,
                "name": segments[-1] if segments and kind != "other" else path,
                "version": version.group(0) if version else None,
                "channel": segments[1] if kind != "other" and len(segments) >= 3 else None,
                "bytes": size,
            },
        )


def _ocsp(
    common: dict[str, Any],
    path: str,
    raw_stem: str,
    cache_hit: bool,
    latency: float | None,
    size: int | None,
    out: ObjectRows,
    requests: RequestCache,
) -> None:
    base = {
        **common,
        "path": path,
        "response_status": None,
        "cache_hit": cache_hit,
        "latency_ms": latency,
        "request_bytes": None,
        "response_bytes": size,
        "issuer_key_sha1": None,
        "cert_status": None,
    }
    encoded = path.removeprefix("/ocsp").lstrip("/")
    if common["http_method"] != "GET" or not encoded:
        # POST bodies never reach CDN logs: the load is counted without CertIDs.
        out.add(
            "ocsp_requests",
            {
                **base,
                "nonce": None,
                "hash_algorithm": None,
                "issuer_name_hash": None,
                "issuer_key_hash": None,
                "serial": None,
            },
        )
        return
    decoded = requests.get(raw_stem)
    if decoded is None:
        try:
            decoded = decode_request(decode_get_path(encoded))
        except RequestError as exc:
            decoded = exc
        requests[raw_stem] = decoded
    if isinstance(decoded, RequestError):
        raise RecordError(f"OCSP GET: {decoded}")
    for cert_id in decoded.cert_ids:
        out.add(
            "ocsp_requests",
            {
                **base,
                "nonce": decoded.nonce,
                "hash_algorithm": cert_id.hash_algorithm,
                "issuer_name_hash": cert_id.issuer_name_hash,
                "issuer_key_hash": cert_id.issuer_key_hash,
                "serial": cert_id.serial,
            },
        )
