"""Rows of the LAKE tables from a block of log columns, vectorised: times, numbers and
routes worked out on whole columns, then one Arrow table per target table
(``ocsp_requests``, ``crl_fetches``, ``artifact_downloads``).

Both readers end here: the fast one with columns only (a line it cannot map makes it
hand over, :class:`Irregular`), the exact one with each line's text, so that a bad line
is quarantined with its own words and number.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.conform import EARLIEST, MAX_TEXT_CHARS
from ingest.formats.cloudfront.fields import FORMAT, HITS, SOURCE, Irregular
from ingest.formats.cloudfront.stems import ARTIFACT, CRL, OCSP_GET, OCSP_OTHER, StemTable
from ingest.rows import ObjectRows
from ingest.schema import TABLES, TIMESTAMP


def quarantine_rows(
    out: ObjectRows,
    now: datetime,
    text: pa.Array,
    line_numbers: np.ndarray,
    mask: np.ndarray | None,
    reason: str | list[str],
) -> None:
    """Quarantine the rows ``mask`` selects (every row when None), each with its line."""
    chosen = range(len(text)) if mask is None else np.flatnonzero(mask).tolist()
    for index in chosen:
        out.records_read += 1
        why = reason if isinstance(reason, str) else reason[index]
        out.quarantine(FORMAT, int(line_numbers[index]), text[index].as_py(), why, now)


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


_EARLIEST_NAIVE = pa.scalar(EARLIEST.replace(tzinfo=None), pa.timestamp("us"))  # log times are UTC
# The text fields a row keeps; each longer than a LAKE text column holds is a bad line.
_KEPT_TEXT = ("c-ip", "cs(User-Agent)", "cs-uri-stem", "x-edge-request-id", "cs-method")


def _over_long(columns: dict[str, pa.Array], length: int) -> list[tuple[np.ndarray, str]]:
    found = []
    for name in _KEPT_TEXT:
        column = columns.get(name)
        if column is None:
            continue
        too_long = pc.fill_null(pc.greater(pc.utf8_length(column), MAX_TEXT_CHARS), False)
        if pc.any(too_long).as_py():
            reason = f"{name} is over {MAX_TEXT_CHARS:,} characters"
            found.append((too_long.to_numpy(zero_copy_only=False), reason))
    return found


def _decoded_unique(column: pa.Array) -> pa.Array:
    """Percent-decode once (CloudFront's own encoding), each distinct value once."""
    encoded = column.dictionary_encode()
    names = [None if v is None or v == "-" else unquote(v) for v in encoded.dictionary.to_pylist()]
    return pa.array(names, pa.string()).take(encoded.indices)


def build_rows(
    columns: dict[str, pa.Array],
    text: pa.Array | None,
    line_numbers: np.ndarray,
    out: ObjectRows,
    now: datetime,
    requests: StemTable,
    source_objects: pa.Array | None = None,
) -> None:
    """Rows of ``out.source_object``'s lines, or, when ``source_objects`` says which
    object each line is from, of several objects' lines together."""
    n = len(line_numbers)
    stamp = pc.binary_join_element_wise(columns["date"], columns["time"], "T")
    parsed = pc.strptime(stamp, format="%Y-%m-%dT%H:%M:%S", unit="us", error_is_null=True)
    bad_time = pc.fill_null(pc.less(parsed, _EARLIEST_NAIVE), True)
    bad_time = bad_time.to_numpy(zero_copy_only=False)
    # Digit counts keep each number inside its LAKE column (ingest/conform.py): an
    # HTTP status has three, byte counts fit int64, seconds taken a finite double.
    status, bad_status = _numbers(columns["sc-status"], n, r"^\d{1,3}$", pa.int32())
    size, bad_size = _numbers(columns.get("sc-bytes"), n, r"^\d{1,18}$", pa.int64())
    taken, bad_taken = _numbers(
        columns.get("time-taken"), n, r"^\d{1,12}(\.\d{1,9})?$", pa.float64()
    )

    stems = columns["cs-uri-stem"].dictionary_encode()
    ids = requests.ids_for(stems.dictionary)[stems.indices.to_numpy(zero_copy_only=False)]
    method = columns["cs-method"]
    is_get = pc.equal(method, "GET").to_numpy(zero_copy_only=False)
    route = requests.route[ids]
    route = np.where((route == OCSP_GET) & ~is_get, OCSP_OTHER, route)
    stem_error = requests.has_error[ids] & (route == OCSP_GET)

    problems: list[str | None] = [None] * n
    for mask, reason in (
        (bad_time, f"date/time not understood or before {EARLIEST.year}"),
        (bad_status, "sc-status is not a number of up to three digits"),
        (bad_size, "sc-bytes is not a number (or beyond 18 digits)"),
        (bad_taken, "time-taken is not a number of seconds"),
        *_over_long(columns, n),
    ):
        for i in np.flatnonzero(mask).tolist():
            problems[i] = problems[i] or reason
    for i in np.flatnonzero(stem_error).tolist():
        problems[i] = problems[i] or f"OCSP GET: {requests.infos[ids[i]].error}"
    bad = np.array([p is not None for p in problems], bool)
    if bad.any() and text is None:
        raise Irregular  # the exact reader quarantines these with their own lines
    if text is not None:
        quarantine_rows(out, now, text, line_numbers, bad, [p or "" for p in problems])
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
        "path": requests.paths.take(pa.array(ids)),
        "source": pa.array([SOURCE] * n, pa.string()),
        "source_object": pa.array([out.source_object] * n, pa.string())
        if source_objects is None
        else source_objects,
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
        ids,
        requests,
        select(route == OCSP_GET),
        select(route == OCSP_OTHER),
    )
    crl_rows = select(route == CRL)
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
    artifact_rows = select(route == ARTIFACT)
    if len(artifact_rows):
        take = pa.array(artifact_rows)
        described = [
            requests.infos[i].artifact or ("other", "", None, None)
            for i in ids[artifact_rows].tolist()
        ]
        out.add_arrow(
            "artifact_downloads",
            _table(
                "artifact_downloads",
                common,
                take,
                {
                    "kind": pa.array([d[0] for d in described], pa.string()),
                    "name": pa.array([d[1] for d in described], pa.string()),
                    "version": pa.array([d[2] for d in described], pa.string()),
                    "channel": pa.array([d[3] for d in described], pa.string()),
                    "bytes": size.take(take),
                },
            ),
        )


def _table(
    name: str, common: dict[str, pa.Array], take: pa.Array | None, extra: dict[str, pa.Array]
) -> pa.Table:
    schema = TABLES[name].schema
    arrays = [extra[f.name] if f.name in extra else _take(common[f.name], take) for f in schema]
    return pa.Table.from_arrays(
        [a.cast(f.type) for a, f in zip(arrays, schema, strict=True)], schema=schema
    )


def _emit_ocsp(
    out: ObjectRows,
    common: dict[str, pa.Array],
    hit: pa.Array,
    taken: pa.Array,
    size: pa.Array,
    ids: np.ndarray,
    stems: StemTable,
    gets: np.ndarray,
    others: np.ndarray,
) -> None:
    # GETs: one row per CertID, rows repeated as many times as their request names CertIDs.
    starts = stems.offsets[ids[gets]]
    counts = stems.offsets[ids[gets] + 1] - starts
    repeated = np.repeat(gets, counts)
    within = np.arange(len(repeated)) - np.repeat(np.cumsum(counts) - counts, counts)
    which = np.repeat(starts, counts) + within
    rows = np.concatenate([repeated, others]).astype(np.int64)
    if len(rows) == 0:
        return
    take = _positions(rows, len(ids))
    # Rows without a CertID (POST, bare /ocsp) point at the columns' trailing null.
    gather = pa.array(
        np.concatenate([which, np.full(len(others), stems.null_cert)]).astype(np.int64)
    )
    empty_text = pa.nulls(len(rows), pa.string())
    hash_algorithm, name_hash, key_hash, serial = (c.take(gather) for c in stems.cert_columns)
    out.add_arrow(
        "ocsp_requests",
        _table(
            "ocsp_requests",
            common,
            take,
            {
                "response_status": empty_text,
                "cert_status": empty_text,
                "hash_algorithm": hash_algorithm,
                "issuer_name_hash": name_hash,
                "issuer_key_hash": key_hash,
                "issuer_key_sha1": empty_text,
                "serial": serial,
                "nonce": stems.nonce.take(gather),
                "cache_hit": _take(hit, take),
                "latency_ms": pc.multiply(_take(taken, take), 1000.0),
                "origin_latency_ms": pa.nulls(len(rows), pa.float64()),
                "request_bytes": pa.nulls(len(rows), pa.int64()),
                "response_bytes": _take(size, take),
            },
        ),
    )


def _positions(rows: np.ndarray, length: int) -> pa.Array | None:
    """Row positions to take, or None when they are every row in order (nothing to copy)."""
    if len(rows) == length and (
        length == 0
        or (rows[0] == 0 and rows[-1] == length - 1 and bool(np.all(np.diff(rows) == 1)))
    ):
        return None
    return pa.array(rows)


def _take(column: pa.Array, take: pa.Array | None) -> pa.Array:
    return column if take is None else column.take(take)
