"""An hour of traffic as LAKE rows: exactly the rows the ingest makes of the RAW logs.

Each function mirrors one reader of the ingest (docs/lake.md): CloudFront lines
keep whole seconds, their latency is ``time-taken`` times 1000, POSTs carry no
CertID, and a GET that missed the cache gains the responder's status, issuer and
latency (the origin join); responder records give one row per CertID with
microsecond times. Only ``path`` differs on purpose: OCSP GET paths (a base64
request each) are left null here, which saves most of the bytes of a large LAKE.

String columns are built as dictionary arrays (indices into small tables: client
addresses, serials, issuer hashes) rather than as millions of strings: building
them costs an index per row, and the Parquet writer encodes them without hashing
a single string. :func:`physical_schema` is the tables' schema with those columns
dictionary-typed; the files still declare the LAKE's schema (see lake_output.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ingest.schema import TABLES, TIMESTAMP
from simulator.catalogue import CatalogueArrays
from simulator.delivery import (
    CERT_STATUSES,
    CRL_HEADERS,
    FILE_HEADERS,
    OCSP_HEADERS,
    RESPONSE_STATUSES,
    CrlHour,
    DownloadHour,
    OcspHour,
)
from simulator.software import Method
from simulator.text import fixed_width

PLAIN_STRINGS = frozenset({"request_id", "cf_request_id"})  # unique per row: no dictionary
DICTIONARY = pa.dictionary(pa.int32(), pa.string())
_METHODS = pa.array(["GET", "POST"], pa.string())
_RESPONSE = pa.array(list(RESPONSE_STATUSES), pa.string())
_CERT = pa.array(list(CERT_STATUSES), pa.string())
_HASHES = pa.array(["sha1", "sha256"], pa.string())
_OCSP_PATH = pa.array(["/ocsp"], pa.string())


def physical_schema(name: str) -> pa.Schema:
    """The table's schema with every string column but the ids dictionary-typed."""
    schema = TABLES[name].schema
    fields = [
        pa.field(f.name, DICTIONARY, f.nullable)
        if f.type == pa.string() and f.name not in PLAIN_STRINGS
        else f
        for f in schema
    ]
    return pa.schema(fields, metadata=schema.metadata)


@dataclass(frozen=True)
class Lookups:
    """Small per-simulation string tables that rows index into."""

    client_ip: pa.Array
    user_agent: pa.Array  # index 0 ("none sent") is a placeholder, always masked
    catalogue: CatalogueArrays
    crl_path: pa.Array
    crl_name: pa.Array
    crl_issuer: pa.Array
    file_path: pa.Array
    file_kind: pa.Array
    file_name: pa.Array
    file_version: pa.Array  # "" where the file has none (masked)
    file_channel: pa.Array  # "" where the file has none (masked)
    file_has_version: np.ndarray
    file_has_channel: np.ndarray
    file_size: np.ndarray


@dataclass(frozen=True)
class Origin:
    """Where rows come from: an object and the line of each row."""

    uri: str
    lines: np.ndarray


def _coded(indices: np.ndarray, dictionary: pa.Array, valid: np.ndarray | None = None) -> pa.Array:
    codes = pa.array(indices.astype(np.int32), pa.int32(), mask=None if valid is None else ~valid)
    return pa.DictionaryArray.from_arrays(codes, dictionary, safe=False)


def _compact(
    indices: np.ndarray, dictionary: pa.Array, valid: np.ndarray | None = None
) -> pa.Array:
    """Like :func:`_coded`, with only the values this hour uses in the dictionary: a
    Parquet dictionary page per row group stays small however large the enterprise."""
    chosen = indices if valid is None else indices[valid]
    used = np.zeros(len(dictionary), bool)
    used[chosen] = True
    renumbered = np.cumsum(used) - 1
    return _coded(renumbered[indices], dictionary.take(pa.array(np.flatnonzero(used))), valid)


def _times(micros: np.ndarray) -> pa.Array:
    return pa.array(micros.astype(np.int64), pa.int64()).cast(TIMESTAMP)


def _origin(origin: Origin, source: str) -> dict[str, pa.Array]:
    count = len(origin.lines)
    zeros = np.zeros(count, np.int32)
    return {
        "source": _coded(zeros, pa.array([source], pa.string())),
        "source_object": _coded(zeros, pa.array([origin.uri], pa.string())),
        "source_line": pa.array(origin.lines, pa.int64()),
    }


def _table(name: str, columns: dict[str, pa.Array]) -> pa.Table:
    schema = physical_schema(name)
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


def _ids(matrix: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    ids = fixed_width(matrix)
    if valid is None or bool(valid.all()):
        return ids
    return pa.Array.from_buffers(
        pa.string(), len(ids), [pa.array(valid).buffers()[1], *ids.buffers()[1:]]
    )


def cdn_latency(taken_ms: np.ndarray) -> np.ndarray:
    """What the ingest makes of ``time-taken`` (seconds, three decimals): seconds * 1000."""
    return (taken_ms / 1000.0) * 1000.0


def _agents(lookups: Lookups, agent: np.ndarray) -> pa.Array:
    return _coded(agent, lookups.user_agent, agent > 0)


def _issuer_columns(
    lookups: Lookups, entry: np.ndarray, valid: np.ndarray, resolved: np.ndarray
) -> dict[str, pa.Array]:
    """The CertID's issuer hashes (where ``valid``) and certsight's issuer key (where
    ``resolved`` and the issuer is the enterprise's)."""
    catalogue = lookups.catalogue
    issuer = catalogue.issuer_index[entry]
    known = resolved & catalogue.issuer_known[issuer]
    return {
        "hash_algorithm": _coded(catalogue.hash_index[entry], _HASHES, valid),
        "issuer_name_hash": _coded(issuer, catalogue.issuer_name_hash, valid),
        "issuer_key_hash": _coded(issuer, catalogue.issuer_key_hash, valid),
        "issuer_key_sha1": _coded(issuer, catalogue.issuer_sha1, known),
        "serial": _compact(entry, catalogue.serial, valid),
    }


def ocsp_cdn_rows(hour: OcspHour, rows: np.ndarray, lookups: Lookups, origin: Origin) -> pa.Table:
    """CloudFront's rows of OCSP requests (``rows``: those that went through the CDN)."""
    requests = hour.requests
    entry = requests.entry[rows]
    get = hour.method[rows] == Method.GET
    joined = get & ~hour.cdn_hit[rows]  # the responder logged it: the join fills it in
    status = hour.cert_status[rows]
    cf_id = _ids(hour.cf_id.of(rows))
    return _table(
        "ocsp_requests",
        {
            "event_time": _times(requests.moment[rows] // 1_000_000 * 1_000_000),
            "request_id": cf_id,
            "cf_request_id": cf_id,
            "client_ip": _compact(requests.client[rows], lookups.client_ip),
            "user_agent": _agents(lookups, hour.user_agent[rows]),
            "http_method": _coded(hour.method[rows], _METHODS),
            "http_status": pa.array(np.full(len(rows), 200, np.int32)),
            "response_status": _coded(hour.response_status[rows], _RESPONSE, joined),
            "cert_status": _coded(np.maximum(status, 0), _CERT, joined & (status >= 0)),
            **_issuer_columns(lookups, entry, get, joined),
            "nonce": pa.array(np.zeros(len(rows), bool), mask=~get),
            "cache_hit": pa.array(hour.cdn_hit[rows]),
            "latency_ms": pa.array(cdn_latency(hour.cdn_taken_ms[rows])),
            "origin_latency_ms": pa.array(
                hour.origin_latency_us[rows] / 1000.0, pa.float64(), mask=~joined
            ),
            "request_bytes": pa.nulls(len(rows), pa.int64()),
            "response_bytes": pa.array(hour.response_bytes[rows] + OCSP_HEADERS, pa.int64()),
            "path": _coded(np.zeros(len(rows), np.int32), _OCSP_PATH, ~get),
            **_origin(origin, "cloudfront"),
        },
    )


def ocsp_origin_rows(
    hour: OcspHour, rows: np.ndarray, lookups: Lookups, origin: Origin
) -> pa.Table:
    """The responder's rows (``rows``: requests that reached it), one CertID each."""
    requests = hour.requests
    entry = requests.entry[rows]
    get = hour.method[rows] == Method.GET
    status = hour.cert_status[rows]
    everywhere = np.ones(len(rows), bool)
    return _table(
        "ocsp_requests",
        {
            "event_time": _times(requests.moment[rows]),
            "request_id": _ids(hour.request_id.of(rows)),
            "cf_request_id": _ids(hour.cf_id.of(rows), hour.via_cdn[rows]),
            "client_ip": _compact(requests.client[rows], lookups.client_ip),
            "user_agent": _agents(lookups, hour.user_agent[rows]),
            "http_method": _coded(hour.method[rows], _METHODS),
            "http_status": pa.array(np.full(len(rows), 200, np.int32)),
            "response_status": _coded(hour.response_status[rows], _RESPONSE),
            "cert_status": _coded(np.maximum(status, 0), _CERT, status >= 0),
            **_issuer_columns(lookups, entry, everywhere, everywhere),
            "nonce": pa.array(hour.nonce[rows]),
            "cache_hit": pa.array(hour.origin_cache_hit[rows]),
            "latency_ms": pa.array(hour.origin_latency_us[rows] / 1000.0),
            "origin_latency_ms": pa.nulls(len(rows), pa.float64()),
            "request_bytes": pa.array(hour.request_bytes[rows], pa.int64()),
            "response_bytes": pa.array(hour.response_bytes[rows], pa.int64()),
            "path": _coded(np.zeros(len(rows), np.int32), _OCSP_PATH, ~get),
            **_origin(origin, "lambda"),
        },
    )


def crl_rows(
    hour: CrlHour, rows: np.ndarray, lookups: Lookups, origin: Origin, *, cdn: bool
) -> pa.Table:
    crl = hour.crl[rows].astype(np.int64)
    count = len(rows)
    nothing = np.zeros(count, bool)
    if cdn:
        ids = _ids(hour.cf_id.of(rows))
        columns = {
            "event_time": _times(hour.moment[rows] // 1_000_000 * 1_000_000),
            "request_id": ids,
            "cf_request_id": ids,
            "issuer_key_sha1": _coded(crl, lookups.crl_issuer, nothing),
            "crl_number": pa.nulls(count, pa.int64()),
            "bytes": pa.array(hour.response_bytes[rows] + CRL_HEADERS, pa.int64()),
            "cache_hit": pa.array(hour.cdn_hit[rows]),
            "latency_ms": pa.array(cdn_latency(hour.cdn_taken_ms[rows])),
        }
    else:
        columns = {
            "event_time": _times(hour.moment[rows]),
            "request_id": _ids(hour.request_id.of(rows)),
            "cf_request_id": _ids(hour.cf_id.of(rows), hour.via_cdn[rows]),
            "issuer_key_sha1": _coded(crl, lookups.crl_issuer),
            "crl_number": pa.array(hour.crl_number[rows], pa.int64()),
            "bytes": pa.array(hour.response_bytes[rows], pa.int64()),
            "cache_hit": pa.array(nothing),  # never a 304 here
            "latency_ms": pa.array(hour.origin_latency_us[rows] / 1000.0),
        }
    return _table(
        "crl_fetches",
        {
            **columns,
            "client_ip": _compact(hour.client[rows], lookups.client_ip),
            "user_agent": _agents(lookups, hour.user_agent[rows]),
            "http_method": _coded(np.zeros(count, np.int32), _METHODS),
            "http_status": pa.array(np.full(count, 200, np.int32)),
            "path": _coded(crl, lookups.crl_path),
            "crl_name": _coded(crl, lookups.crl_name),
            **_origin(origin, "cloudfront" if cdn else "lambda"),
        },
    )


def download_rows(hour: DownloadHour, lookups: Lookups, origin: Origin) -> pa.Table:
    artifact = hour.artifact.astype(np.int64)
    count = len(artifact)
    ids = _ids(hour.cf_id.of(np.arange(count)))
    return _table(
        "artifact_downloads",
        {
            "event_time": _times(hour.moment // 1_000_000 * 1_000_000),
            "request_id": ids,
            "cf_request_id": ids,
            "client_ip": _compact(hour.client, lookups.client_ip),
            "user_agent": _agents(lookups, hour.user_agent),
            "http_method": _coded(np.zeros(count, np.int32), _METHODS),
            "http_status": pa.array(np.full(count, 200, np.int32)),
            "path": _coded(artifact, lookups.file_path),
            "kind": _coded(artifact, lookups.file_kind),
            "name": _coded(artifact, lookups.file_name),
            "version": _coded(artifact, lookups.file_version, lookups.file_has_version[artifact]),
            "channel": _coded(artifact, lookups.file_channel, lookups.file_has_channel[artifact]),
            "bytes": pa.array(lookups.file_size[artifact] + FILE_HEADERS, pa.int64()),
            **_origin(origin, "cloudfront"),
        },
    )
