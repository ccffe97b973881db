"""The exact reader: every line with its number, for what the fast reader hands over
(irregular files from their first irregular line) and for quarantine.

Lines are still handled a block at a time as Arrow strings (no Python object per line);
a ``#Fields:`` line anywhere switches the columns from there on, and each line that
cannot be read is quarantined with its number and the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.formats.cloudfront.fields import FORMAT, REQUIRED, USED
from ingest.formats.cloudfront.rows import build_rows, quarantine_rows
from ingest.formats.cloudfront.stems import StemTable
from ingest.reader import decompressed_blocks
from ingest.rows import ObjectRows


def read_exact(
    uri: str,
    compressed: bool,
    out: ObjectRows,
    now: datetime,
    requests: StemTable,
    *,
    after_line: int,
    fields: list[str] | None,
) -> None:
    """Rows of the lines after ``after_line`` (those the fast reader did not deliver),
    read by ``fields`` until a ``#Fields:`` line says otherwise."""
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


def _segment(
    text: pa.Array,
    first_line: int,
    fields: list[str] | None,
    out: ObjectRows,
    now: datetime,
    requests: StemTable,
) -> None:
    """Rows of a run of lines between two ``#`` lines; blank lines are skipped, and lines
    that do not fit the header are quarantined one by one."""
    line_numbers = np.arange(first_line, first_line + len(text))
    nonblank = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0).to_numpy(
        zero_copy_only=False
    )
    text, line_numbers = text.filter(pa.array(nonblank)), line_numbers[nonblank]
    if len(text) == 0:
        return
    if fields is None:
        quarantine_rows(out, now, text, line_numbers, None, "log line before any #Fields header")
        return
    parts = pc.split_pattern(text, "\t")
    counts = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    wrong = counts != len(fields)
    if wrong.any():
        reasons = [f"{n} fields where the #Fields header names {len(fields)}" for n in counts]
        quarantine_rows(out, now, text, line_numbers, wrong, reasons)
        keep = pa.array(~wrong)
        text, parts, line_numbers = text.filter(keep), parts.filter(keep), line_numbers[~wrong]
    if len(text) == 0:
        return
    missing = [name for name in REQUIRED if name not in fields]
    if missing:
        reason = f"the #Fields header lacks {', '.join(missing)}"
        quarantine_rows(out, now, text, line_numbers, None, reason)
        return
    columns = {name: pc.list_element(parts, fields.index(name)) for name in USED if name in fields}
    build_rows(columns, text, line_numbers, out, now, requests)
