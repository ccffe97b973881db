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

import queue
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pa_csv

from ingest.reader import decompressed, decompressed_blocks
from ingest.rows import ObjectRows
from ingest.schema import TABLES, TIMESTAMP
from ingest.storage import open_arrow_stream, open_binary
from pki.ocsp_getpath import decode_get_request, unquote_once
from pki.ocsp_request import MalformedRequestError, request_fields

FORMAT = "cloudfront"
# The 33 fields of today's standard logs, as AWS documents them; older logs carry the
# first 24 or 26. Files are read by their own #Fields header: this list is for writers
# of test data and benchmarks.
STANDARD_FIELDS = [
    "date",
    "time",
    "x-edge-location",
    "sc-bytes",
    "c-ip",
    "cs-method",
    "cs(Host)",
    "cs-uri-stem",
    "sc-status",
    "cs(Referer)",
    "cs(User-Agent)",
    "cs-uri-query",
    "cs(Cookie)",
    "x-edge-result-type",
    "x-edge-request-id",
    "x-host-header",
    "cs-protocol",
    "cs-bytes",
    "time-taken",
    "x-forwarded-for",
    "ssl-protocol",
    "ssl-cipher",
    "x-edge-response-result-type",
    "cs-protocol-version",
    "fle-status",
    "fle-encrypted-fields",
    "c-port",
    "time-to-first-byte",
    "x-edge-detailed-result-type",
    "sc-content-type",
    "sc-content-len",
    "sc-range-start",
    "sc-range-end",
]
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


# Route of a distinct path: what table it feeds.
_OCSP_GET, _OCSP_OTHER, _CRL, _ARTIFACT = 0, 1, 2, 3


class _Irregular(Exception):
    """The fast reader met something only the exact reader handles (a bad line, a header
    in the middle, a blank line): it hands over at the first line it did not deliver."""


# Objects smaller than this (as stored), such as hourly logs, are a block or two of CSV:
# nothing worth reading ahead (a reader thread per object cost more than it saved), and
# they are best turned into rows several at a time (read_cloudfront_together).
SMALL_OBJECT = 4 << 20


def read_cloudfront(
    uri: str,
    compressed: bool,
    out: ObjectRows,
    now: datetime,
    requests: StemTable,
    *,
    size: int | None = None,
) -> None:
    """pyarrow's CSV reader for clean files (most of them, and fast); the exact reader,
    which knows every line's number, from the first irregular line on. ``size`` (bytes
    as stored, when known) decides whether blocks are read ahead on another thread."""
    header_lines, fields = _leading_header(uri, compressed)
    delivered = header_lines
    read_ahead = size is None or size >= SMALL_OBJECT
    if fields is not None and all(name in fields for name in REQUIRED):
        try:
            for columns, count in _csv_batches(
                uri, compressed, header_lines, fields, read_ahead=read_ahead
            ):
                line_numbers = np.arange(delivered + 1, delivered + 1 + count)
                _rows(columns, None, line_numbers, out, now, requests)
                delivered += count
            return
        except _Irregular:
            pass
    _exact(
        uri,
        compressed,
        out,
        now,
        requests,
        after_line=delivered,
        fields=fields,  # the leading header's, in force up to the next #Fields line
    )


_Member = tuple[int, dict[str, pa.Array], np.ndarray]  # object, its columns, its lines


def read_cloudfront_together(
    objects: list[tuple[str, bool, ObjectRows]], now: datetime, requests: StemTable
) -> list[bool]:
    """Small CloudFront logs (hourly ones: a few hundred lines each) turned into rows in
    one go: one object at a time, the column work cost several times what its lines did.
    Each object's ObjectRows gets what :func:`read_cloudfront` would have put there, in
    the same order; the answer says which objects were read (False: one that is not a
    single clean block, to be read alone). Nothing is filled before every object has
    been read, so a failure (a vanished object) leaves them all to be read alone."""
    read = [False] * len(objects)
    # Logs with the same columns are read together; the clean one-block ones only.
    groups: dict[tuple[str, ...], list[_Member]] = {}
    for index, (uri, compressed, _) in enumerate(objects):
        header_lines, fields = _leading_header(uri, compressed)
        if fields is None or not all(name in fields for name in REQUIRED):
            continue
        try:
            blocks = list(_csv_batches(uri, compressed, header_lines, fields, read_ahead=False))
        except _Irregular:
            continue
        if len(blocks) != 1:
            continue
        columns, count = blocks[0]
        lines = np.arange(header_lines + 1, header_lines + 1 + count)
        groups.setdefault(tuple(columns), []).append((index, columns, lines))
    for members in groups.values():
        _rows_together(members, objects, read, now, requests)
    return read


def _rows_together(
    members: list[_Member],
    objects: list[tuple[str, bool, ObjectRows]],
    read: list[bool],
    now: datetime,
    requests: StemTable,
) -> None:
    """Rows of these objects' lines, handed to each object; a line only the exact reader
    takes (a bad time, a blank line) makes each half try again, down to that object,
    which is left to be read alone."""
    uris = [objects[index][0] for index, _, _ in members]
    counts = np.array([len(lines) for _, _, lines in members])
    together = ObjectRows("")
    try:
        _rows(
            {name: pa.concat_arrays([c[name] for _, c, _ in members]) for name in members[0][1]},
            None,
            np.concatenate([lines for _, _, lines in members]),
            together,
            now,
            requests,
            source_objects=pa.array(np.repeat(np.array(uris, object), counts), pa.string()),
        )
    except _Irregular:
        if len(members) > 1:
            half = len(members) // 2
            _rows_together(members[:half], objects, read, now, requests)
            _rows_together(members[half:], objects, read, now, requests)
        return
    outs = [objects[index][2] for index, _, _ in members]
    for name, tables in together.arrow.items():
        for table in tables:
            for out, part in zip(outs, _by_object(table, uris), strict=True):
                out.add_arrow(name, part)
    for (index, _, _), out, count in zip(members, outs, counts.tolist(), strict=True):
        out.records_read += count
        out.records_written += count
        read[index] = True


def _by_object(table: pa.Table, uris: list[str]) -> list[pa.Table]:
    """``table`` cut into each object's rows, each in the order it had in ``table`` (the
    order reading the object alone gives)."""
    owner = pc.index_in(table.column("source_object"), value_set=pa.array(uris)).to_numpy()
    order = np.argsort(owner, kind="stable")
    if (np.diff(order) < 0).any():
        table, owner = table.take(pa.array(order)), owner[order]
    sizes = np.bincount(owner, minlength=len(uris))
    starts = np.cumsum(sizes) - sizes
    return [table.slice(int(start), int(size)) for start, size in zip(starts, sizes, strict=True)]


def _leading_header(uri: str, compressed: bool) -> tuple[int, list[str] | None]:
    """How many ``#`` lines open the file, and the fields they name."""
    count, fields = 0, None
    with open_binary(uri) as raw, decompressed(raw, compressed) as handle:
        for line in handle:
            if not line.startswith(b"#"):
                break
            count += 1
            if line.startswith(b"#Fields:"):
                fields = line[len(b"#Fields:") :].decode("ascii", errors="replace").split()
    return count, fields


def _csv_batches(
    uri: str, compressed: bool, header_lines: int, fields: list[str], *, read_ahead: bool = True
) -> Iterator[tuple[dict[str, pa.Array], int]]:
    irregular = False

    def on_invalid_row(_: object) -> str:
        nonlocal irregular
        irregular = True
        return "error"

    wanted = [name for name in USED if name in fields]
    with open_arrow_stream(uri, compressed) as handle:
        try:  # opening reads the first block already
            reader = pa_csv.open_csv(
                handle,
                read_options=pa_csv.ReadOptions(
                    skip_rows=header_lines, column_names=fields, block_size=32 << 20
                ),
                parse_options=pa_csv.ParseOptions(
                    delimiter="\t",
                    quote_char=False,
                    escape_char=False,
                    ignore_empty_lines=False,
                    invalid_row_handler=on_invalid_row,
                ),
                convert_options=pa_csv.ConvertOptions(
                    column_types=dict.fromkeys(fields, pa.string()),
                    include_columns=wanted,
                    strings_can_be_null=False,
                ),
            )
        except (pa.ArrowInvalid, UnicodeDecodeError, OSError):
            raise _Irregular from None

        def next_batch() -> pa.RecordBatch | _Irregular | None:
            """The next block; None at the end, _Irregular for what the exact reader does."""
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return None
            except (pa.ArrowInvalid, UnicodeDecodeError, OSError):
                # OSError: a truncated gzip; the exact reader quarantines the cut.
                return _Irregular()
            return _Irregular() if irregular else batch

        if not read_ahead:
            while (batch := next_batch()) is not None:
                if isinstance(batch, _Irregular):
                    raise batch
                yield {name: batch.column(name) for name in wanted}, batch.num_rows
            return
        # The next block is parsed on another thread (pyarrow lets go of the GIL) while
        # this one is turned into rows; at most two blocks wait, so memory stays bounded.
        ahead: queue.Queue[pa.RecordBatch | BaseException | None] = queue.Queue(maxsize=2)
        stop = threading.Event()

        def produce() -> None:
            while not stop.is_set():
                try:
                    item: pa.RecordBatch | BaseException | None = next_batch()
                except Exception as exc:  # noqa: BLE001 - handed to the reading thread
                    item = exc
                while not stop.is_set():
                    try:
                        ahead.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if not isinstance(item, pa.RecordBatch):
                    return

        producer = threading.Thread(target=produce, name="csv-ahead", daemon=True)
        producer.start()
        try:
            while True:
                item = ahead.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield {name: item.column(name) for name in wanted}, item.num_rows
        finally:
            stop.set()
            producer.join()


def _exact(
    uri: str,
    compressed: bool,
    out: ObjectRows,
    now: datetime,
    requests: StemTable,
    *,
    after_line: int,
    fields: list[str] | None,
) -> None:
    for block_start, block in _blocks(uri, compressed, out, now):
        if block_start + len(block) - 1 <= after_line:
            continue
        skip = max(0, after_line - block_start + 1)
        text, first_line = block.slice(skip), block_start + skip
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
) -> Iterator[tuple[int, pa.StringArray]]:
    """Lines as an Arrow string array, a block at a time, without a Python object per
    line; lines that are not UTF-8 are quarantined here and left blank."""
    for first_line, raw_lines in decompressed_blocks(uri, compressed):
        block = b"\n".join(raw_lines)
        try:
            whole = block.decode("utf-8")
        except UnicodeDecodeError:
            lines = []
            for offset, raw in enumerate(raw_lines):
                try:
                    lines.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    out.records_read += 1
                    out.quarantine(FORMAT, first_line + offset, raw, "line is not UTF-8", now)
                    lines.append("")  # keeps the numbering; blank lines are not records
            whole = "\n".join(lines)
        split = pc.split_pattern(pa.array([whole], pa.large_string()), "\n")
        text = pc.utf8_rtrim(split.values.cast(pa.string()), characters="\r")
        yield first_line, text


def _quarantine_rows(
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


def _segment(
    text: pa.Array,
    first_line: int,
    fields: list[str] | None,
    out: ObjectRows,
    now: datetime,
    requests: StemTable,
) -> None:
    line_numbers = np.arange(first_line, first_line + len(text))
    nonblank = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0).to_numpy(
        zero_copy_only=False
    )
    text, line_numbers = text.filter(pa.array(nonblank)), line_numbers[nonblank]
    if len(text) == 0:
        return
    if fields is None:
        _quarantine_rows(out, now, text, line_numbers, None, "log line before any #Fields header")
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
        reason = f"the #Fields header lacks {', '.join(missing)}"
        _quarantine_rows(out, now, text, line_numbers, None, reason)
        return
    columns = {name: pc.list_element(parts, fields.index(name)) for name in USED if name in fields}
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
    bad_time = pc.is_null(parsed).to_numpy(zero_copy_only=False)
    status, bad_status = _numbers(columns["sc-status"], n, r"^\d+$", pa.int32())
    size, bad_size = _numbers(columns.get("sc-bytes"), n, r"^\d+$", pa.int64())
    taken, bad_taken = _numbers(columns.get("time-taken"), n, r"^\d+(\.\d+)?$", pa.float64())

    stems = columns["cs-uri-stem"].dictionary_encode()
    ids = requests.ids_for(stems.dictionary)[stems.indices.to_numpy(zero_copy_only=False)]
    method = columns["cs-method"]
    is_get = pc.equal(method, "GET").to_numpy(zero_copy_only=False)
    route = requests.route[ids]
    route = np.where((route == _OCSP_GET) & ~is_get, _OCSP_OTHER, route)
    stem_error = requests.has_error[ids] & (route == _OCSP_GET)

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
        problems[i] = problems[i] or f"OCSP GET: {requests.infos[ids[i]].error}"
    bad = np.array([p is not None for p in problems], bool)
    if bad.any() and text is None:
        raise _Irregular  # the exact reader quarantines these with their own lines
    if text is not None:
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


@dataclass(frozen=True, slots=True)
class StemInfo:
    """What one distinct cs-uri-stem means, worked out once per run."""

    route: int
    path: str
    error: str | None
    cert_ids: tuple[tuple[str, str, str, str, bool], ...]
    artifact: tuple[str, str, str | None, str | None] | None


def _stem_info(stem: str) -> StemInfo:
    path = unquote_once(stem, errors="replace")  # once: CloudFront's own encoding
    if path == "/ocsp" or path.startswith("/ocsp/"):
        encoded = path.removeprefix("/ocsp").lstrip("/")
        if not encoded:
            return StemInfo(_OCSP_OTHER, path, None, (), None)
        try:
            decoded = request_fields(decode_get_request(encoded))
        except MalformedRequestError as exc:
            return StemInfo(_OCSP_GET, path, str(exc), (), None)
        return StemInfo(
            _OCSP_GET,
            path,
            None,
            tuple(
                (c.hash_algorithm, c.issuer_name_hash, c.issuer_key_hash, c.serial, decoded.nonce)
                for c in decoded.cert_ids
            ),
            None,
        )
    if path.startswith("/crl/"):
        return StemInfo(_CRL, path, None, (), None)
    return StemInfo(_ARTIFACT, path, None, (), _artifact(path))


class StemTable:
    """Every distinct cs-uri-stem of an ingest run, worked out once, kept as arrays so
    that each block maps its rows with vectorised lookups instead of Python loops."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self.infos: list[StemInfo] = []
        self._refresh()

    def __len__(self) -> int:
        return len(self.infos)

    def ids_for(self, stems: pa.Array) -> np.ndarray:
        """The run-wide id of each distinct stem in ``stems`` (a dictionary's values)."""
        found = (
            pc.fill_null(pc.index_in(stems, value_set=self._known), -1)
            .to_numpy(zero_copy_only=False)
            .astype(np.int64)
        )
        missing = np.flatnonzero(found < 0)
        if len(missing):
            for position in missing.tolist():
                stem = stems[position].as_py()
                if stem not in self._ids:
                    self._ids[stem] = len(self.infos)
                    self.infos.append(_stem_info(stem))
                found[position] = self._ids[stem]
            self._refresh()
        return np.asarray(found, dtype=np.int64)

    def _refresh(self) -> None:
        infos = self.infos
        self._known = pa.array(list(self._ids), pa.string())
        self.route = np.array([i.route for i in infos], np.int64)
        self.has_error = np.array([i.error is not None for i in infos], bool)
        self.paths = pa.array([i.path for i in infos], pa.string())
        counts = np.array([len(i.cert_ids) for i in infos], np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        flat = [c for i in infos for c in i.cert_ids]
        # One trailing null per column: rows without a CertID point there.
        self.cert_columns = [pa.array([c[k] for c in flat] + [None], pa.string()) for k in range(4)]
        self.nonce = pa.array([c[4] for c in flat] + [None], pa.bool_())
        self.null_cert = len(flat)


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
