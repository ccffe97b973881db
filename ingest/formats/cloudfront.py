"""CloudFront standard access logs (W3C, tab-separated) into LAKE rows, vectorised.

Columns are found by the ``#Fields:`` header, so files of every era (24, 26 or 33
fields) read alike, and a header repeated mid-file (concatenated logs) is obeyed.
CloudFront percent-encodes values: each value is decoded exactly once for that,
and an OCSP GET path once more for the client's own encoding; ``+`` is never a
space. Each distinct request string (OCSP GET path, user agent) is decoded once
per run: the same certificate's GET URL repeats millions of times. Everything
else runs on whole columns with pyarrow, a block of lines at a time, so memory
stays bounded and a 2-million-line log is read in seconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.formats.ocsp_der import RequestError, decode_get_path, decode_request
from ingest.reader import TruncatedObjectError, decompressed_blocks
from ingest.rows import ObjectRows
from ingest.schema import TABLES, TIMESTAMP

FORMAT = "cloudfront"
SOURCE = "cloudfront"
HITS = ["Hit", "RefreshHit", "OriginShieldHit"]
ARTIFACT_KINDS = {
    "truststore": "truststore",
    "agent": "agent",
    "docs": "doc",
    "ca": "ca-certificate",
}
_VERSION = re.compile(r"\d+\.\d+(?:\.\d+)*")
REQUIRED = ("date", "time", "cs-method", "cs-uri-stem", "sc-status")
USED = (
    *REQUIRED,
    "c-ip",
    "cs(User-Agent)",
    "x-edge-result-type",
    "x-edge-request-id",
    "sc-bytes",
    "time-taken",
)

RequestCache = dict[str, "StemInfo"]

# Route of a distinct path: what table it feeds.
_OCSP_GET, _OCSP_OTHER, _CRL, _ARTIFACT = 0, 1, 2, 3


def read_cloudfront(
    uri: str, compressed: bool, out: ObjectRows, now: datetime, requests: RequestCache
) -> None:
    fields: list[str] | None = None
    for first_line, lines in _blocks(uri, compressed, out, now):
        text = pc.utf8_rtrim(pa.array(lines, pa.string()), characters="\r")
        headers = np.flatnonzero(pc.starts_with(text, "#").to_numpy(zero_copy_only=False))
        start = 0
        for position in [*headers.tolist(), len(text)]:
            if position > start:
                _segment(
                    text.slice(start, position - start),
                    first_line + start,
                    fields,
                    out,
                    now,
                    requests,
                )
            if position < len(text):
                header = text[position].as_py()
                if header.startswith("#Fields:"):
                    fields = header[len("#Fields:") :].split()
            start = position + 1


def _blocks(
    uri: str, compressed: bool, out: ObjectRows, now: datetime
) -> Iterator[tuple[int, list[str]]]:
    """Lines as text, a block at a time; lines that are not UTF-8 are quarantined here."""
    try:
        for first_line, raw_lines in decompressed_blocks(uri, compressed):
            lines = []
            for offset, raw in enumerate(raw_lines):
                try:
                    lines.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    out.records_read += 1
                    out.quarantine(FORMAT, first_line + offset, raw, "line is not UTF-8", now)
                    lines.append("")  # keeps the numbering; blank lines are not records
            yield first_line, lines
    except TruncatedObjectError:
        raise


def _quarantine_rows(
    out: ObjectRows,
    now: datetime,
    text: pa.Array,
    line_numbers: np.ndarray,
    mask: np.ndarray,
    reason: str | list[str],
) -> None:
    for index in np.flatnonzero(mask).tolist():
        out.records_read += 1
        why = reason if isinstance(reason, str) else reason[index]
        out.quarantine(FORMAT, int(line_numbers[index]), text[index].as_py(), why, now)


def _segment(
    text: pa.Array,
    first_line: int,
    fields: list[str] | None,
    out: ObjectRows,
    now: datetime,
    requests: RequestCache,
) -> None:
    line_numbers = np.arange(first_line, first_line + len(text))
    nonblank = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0).to_numpy(
        zero_copy_only=False
    )
    text, line_numbers = text.filter(pa.array(nonblank)), line_numbers[nonblank]
    if len(text) == 0:
        return
    if fields is None:
        _quarantine_rows(
            out,
            now,
            text,
            line_numbers,
            np.ones(len(text), bool),
            "log line before any #Fields header",
        )
        return
    parts = pc.split_pattern(text, "\t")
    counts = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    wrong = counts != len(fields)
    if wrong.any():
        reasons = [f"{n} fields where the #Fields header names {len(fields)}" for n in counts]
        _quarantine_rows(out, now, text, line_numbers, wrong, reasons)
        keep = pa.array(~wrong)
        text, parts, line_numbers = text.filter(keep), parts.filter(keep), line_numbers[~wrong]
    if len(text) == 0:
        return
    missing = [name for name in REQUIRED if name not in fields]
    if missing:
        _quarantine_rows(
            out,
            now,
            text,
            line_numbers,
            np.ones(len(text), bool),
            f"the #Fields header lacks {', '.join(missing)}",
        )
        return
    flat = pc.list_flatten(parts)
    width = len(fields)
    columns = {
        name: flat.take(pa.array(np.arange(fields.index(name), len(flat), width)))
        for name in USED
        if name in fields
    }
    _rows(columns, text, line_numbers, out, now, requests)


def _nullable(column: pa.Array | None, length: int) -> pa.Array:
    if column is None:
        return pa.nulls(length, pa.string())
    return pc.if_else(pc.equal(column, "-"), pa.scalar(None, pa.string()), column)


def _numbers(
    column: pa.Array | None, length: int, pattern: str, target: pa.DataType
) -> tuple[pa.Array, np.ndarray]:
    """The column as numbers, and which rows hold something that is not one."""
    values = _nullable(column, length)
    valid = pc.fill_null(pc.match_substring_regex(values, pattern), True).to_numpy(
        zero_copy_only=False
    )
    cleaned = pc.if_else(pa.array(valid), values, pa.scalar(None, pa.string()))
    return cleaned.cast(target), ~valid


def _decoded_unique(column: pa.Array) -> pa.Array:
    """Percent-decode once (CloudFront's own encoding), each distinct value once."""
    encoded = column.dictionary_encode()
    names = [None if v is None or v == "-" else unquote(v) for v in encoded.dictionary.to_pylist()]
    return pa.array(names, pa.string()).take(encoded.indices)


def _rows(
    columns: dict[str, pa.Array],
    text: pa.Array,
    line_numbers: np.ndarray,
    out: ObjectRows,
    now: datetime,
    requests: RequestCache,
) -> None:
    n = len(text)
    stamp = pc.binary_join_element_wise(columns["date"], columns["time"], "T")
    parsed = pc.strptime(stamp, format="%Y-%m-%dT%H:%M:%S", unit="us", error_is_null=True)
    bad_time = pc.is_null(parsed).to_numpy(zero_copy_only=False)
    status, bad_status = _numbers(columns["sc-status"], n, r"^\d+$", pa.int32())
    size, bad_size = _numbers(columns.get("sc-bytes"), n, r"^\d+$", pa.int64())
    taken, bad_taken = _numbers(columns.get("time-taken"), n, r"^\d+(\.\d+)?$", pa.float64())

    stems = columns["cs-uri-stem"].dictionary_encode()
    routes, paths, errors, offsets, cert_ids = _routes(stems.dictionary.to_pylist(), requests)
    index = stems.indices.to_numpy(zero_copy_only=False)
    method = columns["cs-method"]
    is_get = pc.equal(method, "GET").to_numpy(zero_copy_only=False)
    route = routes[index]
    route = np.where((route == _OCSP_GET) & ~is_get, _OCSP_OTHER, route)
    has_error = np.array([error is not None for error in errors], bool)
    stem_error = has_error[index] & (route == _OCSP_GET)

    problems: list[str | None] = [None] * n
    for mask, reason in (
        (bad_time, "date/time not understood"),
        (bad_status, "sc-status is not a number"),
        (bad_size, "sc-bytes is not a number"),
        (bad_taken, "time-taken is not a number"),
    ):
        for i in np.flatnonzero(mask).tolist():
            problems[i] = problems[i] or reason
    for i in np.flatnonzero(stem_error).tolist():
        problems[i] = problems[i] or f"OCSP GET: {errors[index[i]]}"
    bad = np.array([p is not None for p in problems], bool)
    _quarantine_rows(out, now, text, line_numbers, bad, [p or "" for p in problems])
    out.records_read += int((~bad).sum())
    out.records_written += int((~bad).sum())

    request_id = _nullable(columns.get("x-edge-request-id"), n)
    common = {
        "event_time": parsed.cast(TIMESTAMP),
        "request_id": request_id,
        "cf_request_id": request_id,
        "client_ip": _nullable(columns.get("c-ip"), n),
        "user_agent": _decoded_unique(columns["cs(User-Agent)"])
        if "cs(User-Agent)" in columns
        else pa.nulls(n, pa.string()),
        "http_method": method,
        "http_status": status,
        "path": pa.array(paths, pa.string()).take(stems.indices),
        "source": pa.array([SOURCE] * n, pa.string()),
        "source_object": pa.array([out.source_object] * n, pa.string()),
        "source_line": pa.array(line_numbers, pa.int64()),
    }
    hit = pc.is_in(_nullable(columns.get("x-edge-result-type"), n), pa.array(HITS))
    good = ~bad

    def select(mask: np.ndarray) -> np.ndarray:
        return np.flatnonzero(mask & good)

    _emit_ocsp(
        out,
        common,
        hit,
        taken,
        size,
        route,
        index,
        offsets,
        cert_ids,
        select(route == _OCSP_GET),
        select(route == _OCSP_OTHER),
    )
    crl_rows = select(route == _CRL)
    if len(crl_rows):
        take = pa.array(crl_rows)
        crl_path = common["path"].take(take)
        names = pc.replace_substring_regex(crl_path, r"^/crl/(.*?)(\.crl)?$", r"\1")
        out.add_arrow(
            "crl_fetches",
            _table(
                "crl_fetches",
                common,
                take,
                {
                    "crl_name": names,
                    "issuer_key_sha1": pa.nulls(len(crl_rows), pa.string()),
                    "crl_number": pa.nulls(len(crl_rows), pa.int64()),
                    "bytes": size.take(take),
                    "cache_hit": hit.take(take),
                    "latency_ms": pc.multiply(taken.take(take), 1000.0),
                },
            ),
        )
    artifact_rows = select(route == _ARTIFACT)
    if len(artifact_rows):
        take = pa.array(artifact_rows)
        described = [_artifact(p) for p in paths]
        pick = index[artifact_rows]
        out.add_arrow(
            "artifact_downloads",
            _table(
                "artifact_downloads",
                common,
                take,
                {
                    "kind": pa.array([described[i][0] for i in pick], pa.string()),
                    "name": pa.array([described[i][1] for i in pick], pa.string()),
                    "version": pa.array([described[i][2] for i in pick], pa.string()),
                    "channel": pa.array([described[i][3] for i in pick], pa.string()),
                    "bytes": size.take(take),
                },
            ),
        )


def _table(
    name: str, common: dict[str, pa.Array], take: pa.Array, extra: dict[str, pa.Array]
) -> pa.Table:
    schema = TABLES[name].schema
    arrays = [extra[f.name] if f.name in extra else common[f.name].take(take) for f in schema]
    return pa.Table.from_arrays(
        [a.cast(f.type) for a, f in zip(arrays, schema, strict=True)], schema=schema
    )


def _emit_ocsp(
    out: ObjectRows,
    common: dict[str, pa.Array],
    hit: pa.Array,
    taken: pa.Array,
    size: pa.Array,
    route: np.ndarray,
    index: np.ndarray,
    offsets: np.ndarray,
    cert_ids: list[tuple[str, str, str, str, bool]],
    gets: np.ndarray,
    others: np.ndarray,
) -> None:
    # GETs: one row per CertID, rows repeated as many times as their request names CertIDs.
    counts = (offsets[index[gets] + 1] - offsets[index[gets]]) if len(gets) else np.array([], int)
    repeated = np.repeat(gets, counts)
    within = np.arange(len(repeated)) - np.repeat(np.cumsum(counts) - counts, counts)
    which = (np.repeat(offsets[index[gets]], counts) + within) if len(gets) else within
    rows = np.concatenate([repeated, others]).astype(np.int64)
    if len(rows) == 0:
        return
    take = pa.array(rows)
    empty = [None] * len(others)

    def cert_column(position: int) -> pa.Array:
        return pa.array([cert_ids[i][position] for i in which.tolist()] + empty, pa.string())

    nonce = pa.array([cert_ids[i][4] for i in which.tolist()] + empty, pa.bool_())
    out.add_arrow(
        "ocsp_requests",
        _table(
            "ocsp_requests",
            common,
            take,
            {
                "response_status": pa.nulls(len(rows), pa.string()),
                "cert_status": pa.nulls(len(rows), pa.string()),
                "hash_algorithm": cert_column(0),
                "issuer_name_hash": cert_column(1),
                "issuer_key_hash": cert_column(2),
                "issuer_key_sha1": pa.nulls(len(rows), pa.string()),
                "serial": cert_column(3),
                "nonce": nonce,
                "cache_hit": hit.take(take),
                "latency_ms": pc.multiply(taken.take(take), 1000.0),
                "request_bytes": pa.nulls(len(rows), pa.int64()),
                "response_bytes": size.take(take),
            },
        ),
    )


@dataclass(frozen=True, slots=True)
class StemInfo:
    """What one distinct cs-uri-stem means, worked out once per run."""

    route: int
    path: str
    error: str | None
    cert_ids: tuple[tuple[str, str, str, str, bool], ...]


def _stem_info(stem: str) -> StemInfo:
    path = unquote(stem)  # once: CloudFront's own encoding
    if path == "/ocsp" or path.startswith("/ocsp/"):
        encoded = path.removeprefix("/ocsp").lstrip("/")
        if not encoded:
            return StemInfo(_OCSP_OTHER, path, None, ())
        try:
            decoded = decode_request(decode_get_path(encoded))
        except RequestError as exc:
            return StemInfo(_OCSP_GET, path, str(exc), ())
        return StemInfo(
            _OCSP_GET,
            path,
            None,
            tuple(
                (c.hash_algorithm, c.issuer_name_hash, c.issuer_key_hash, c.serial, decoded.nonce)
                for c in decoded.cert_ids
            ),
        )
    return StemInfo(_CRL if path.startswith("/crl/") else _ARTIFACT, path, None, ())


def _routes(
    stems: list[str], requests: RequestCache
) -> tuple[
    np.ndarray, list[str], list[str | None], np.ndarray, list[tuple[str, str, str, str, bool]]
]:
    """Per distinct stem of a block: its route, decoded path, decoding error, and CertIDs
    (flattened, with offsets)."""
    routes = np.empty(len(stems), np.int64)
    paths: list[str] = []
    errors: list[str | None] = []
    offsets = np.zeros(len(stems) + 1, np.int64)
    cert_ids: list[tuple[str, str, str, str, bool]] = []
    for position, stem in enumerate(stems):
        info = requests.get(stem)
        if info is None:
            info = requests[stem] = _stem_info(stem)
        routes[position] = info.route
        paths.append(info.path)
        errors.append(info.error)
        cert_ids.extend(info.cert_ids)
        offsets[position + 1] = len(cert_ids)
    return routes, paths, errors, offsets, cert_ids


def _artifact(path: str) -> tuple[str, str, str | None, str | None]:
    segments = [s for s in path.split("/") if s]
    kind = ARTIFACT_KINDS.get(segments[0], "other") if segments else "other"
    if kind == "other":
        return kind, path, None, None
    version = _VERSION.search(path)
    return (
        kind,
        segments[-1],
        version.group(0) if version else None,
        segments[1] if len(segments) >= 3 else None,
    )
