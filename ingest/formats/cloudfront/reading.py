"""Reading CloudFront log objects: one alone (fast reader first, exact reader from the
first irregular line), or several small ones together, turned into rows in one go.
Standard logging v2's JSON and Parquet outputs are read by their own readers
(``v2_json``, ``v2_parquet``), which end in the same row builder.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.formats.cloudfront.csv_blocks import csv_batches
from ingest.formats.cloudfront.exact import read_exact
from ingest.formats.cloudfront.fields import REQUIRED, Irregular, leading_header
from ingest.formats.cloudfront.rows import build_rows
from ingest.formats.cloudfront.stems import StemTable
from ingest.formats.cloudfront.v2_json import read_json
from ingest.formats.cloudfront.v2_parquet import read_parquet
from ingest.reader import cloudfront_layout
from ingest.rows import ObjectRows

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
    layout = cloudfront_layout(uri, compressed)
    if layout == "json":
        read_json(uri, compressed, out, now, requests)
        return
    if layout == "parquet":
        read_parquet(uri, out, now, requests)
        return
    header_lines, fields = leading_header(uri, compressed)
    delivered = header_lines
    read_ahead = size is None or size >= SMALL_OBJECT
    if fields is not None and all(name in fields for name in REQUIRED):
        try:
            for columns, count in csv_batches(
                uri, compressed, header_lines, fields, read_ahead=read_ahead
            ):
                line_numbers = np.arange(delivered + 1, delivered + 1 + count)
                build_rows(columns, None, line_numbers, out, now, requests)
                delivered += count
            return
        except Irregular:
            pass
    read_exact(
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
        header_lines, fields = leading_header(uri, compressed)
        if fields is None or not all(name in fields for name in REQUIRED):
            continue
        try:
            blocks = list(csv_batches(uri, compressed, header_lines, fields, read_ahead=False))
        except Irregular:
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
        build_rows(
            {name: pa.concat_arrays([c[name] for _, c, _ in members]) for name in members[0][1]},
            None,
            np.concatenate([lines for _, _, lines in members]),
            together,
            now,
            requests,
            source_objects=pa.array(np.repeat(np.array(uris, object), counts), pa.string()),
        )
    except Irregular:
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
