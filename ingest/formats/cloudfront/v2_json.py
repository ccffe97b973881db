"""CloudFront standard logging (v2) in JSON: one object per line, gzip or plain, with the
fields the user selected, keyed by their W3C names (``cs(User-Agent)``, ``sc-status``).

AWS writes every value as text (``"sc-status": "200"``, ``"-"`` for nothing), so a
chunk of lines is first read by pyarrow's JSON reader, with every field certsight reads
as text: fast, and most chunks are that clean. A chunk it cannot take whole (a line that
is not JSON, a number where text was, a record without a field the first one had, a
blank line) is read line by line instead: numbers read as their text, and a record that
cannot be read is quarantined with its line number and the reason (a value that is
neither text nor a number, ``true`` or an object, with the field's name). Chunks keep
memory bounded whatever the size of the log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.json as pa_json

from ingest.formats.cloudfront.fields import FORMAT
from ingest.formats.cloudfront.stems import StemTable
from ingest.formats.cloudfront.v2_rows import READ, build_v2_rows, legacy_name
from ingest.reader import decompressed_blocks
from ingest.rows import ObjectRows

CHUNK_LINES = 50_000  # records read at once: tens of MB, and as Python objects more


def read_json(
    uri: str, compressed: bool, out: ObjectRows, now: datetime, requests: StemTable
) -> None:
    """Rows of every record of the object; a cut gzip raises TruncatedObjectError after
    every record before the cut (as the W3C reader does)."""
    for first_line, lines in decompressed_blocks(uri, compressed):
        for start in range(0, len(lines), CHUNK_LINES):
            _read_chunk(first_line + start, lines[start : start + CHUNK_LINES], out, now, requests)


def _read_chunk(
    first_line: int, lines: list[bytes], out: ObjectRows, now: datetime, requests: StemTable
) -> None:
    columns = _clean_columns(lines)
    if columns is None:
        _read_lines(first_line, lines, out, now, requests)
        return
    build_v2_rows(
        columns,
        np.arange(first_line, first_line + len(lines), dtype=np.int64),
        lambda: pa.array([line.rstrip(b"\r").decode("utf-8", errors="replace") for line in lines]),
        out,
        now,
        requests,
    )


def _clean_columns(lines: list[bytes]) -> dict[str, pa.Array] | None:
    """The fields certsight reads, as text keyed by legacy name, when every line is one
    record with every such field the first record has, all text; None otherwise."""
    if any(not line.strip() for line in lines):
        return None
    try:
        first = orjson.loads(lines[0])
    except orjson.JSONDecodeError:
        return None
    if not isinstance(first, dict):
        return None
    spelled = {key: name for key in first if (name := legacy_name(key)) is not None}
    if len(set(spelled.values())) != len(spelled):
        return None  # one field under two names
    try:
        table = pa_json.read_json(
            pa.BufferReader(b"\n".join(lines)),
            parse_options=pa_json.ParseOptions(
                explicit_schema=pa.schema([(key, pa.string()) for key in spelled]),
                unexpected_field_behavior="infer",
            ),
        )
    except (pa.ArrowException, UnicodeDecodeError):  # the line reader says what it is
        return None
    if table.num_rows != len(lines):
        return None
    columns = {spelled[key]: table.column(key).combine_chunks() for key in spelled}
    if any(column.null_count for column in columns.values()):
        return None  # a record without a field: the line reader says which
    if any(legacy_name(key) is not None for key in table.column_names[len(spelled) :]):
        return None  # a field the first record lacked
    return columns


def _read_lines(
    first_line: int, lines: list[bytes], out: ObjectRows, now: datetime, requests: StemTable
) -> None:
    """Record by record, for the chunks the JSON reader cannot take whole."""
    found: list[dict[str, str]] = []
    numbers: list[int] = []
    texts: list[str] = []
    for offset, raw in enumerate(lines):
        line = raw.rstrip(b"\r")
        if not line.strip():
            continue  # blank lines are not records
        number = first_line + offset
        try:
            fields = _fields(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            fields = f"not JSON: {exc.msg}"
        if isinstance(fields, str):
            out.records_read += 1
            out.quarantine(FORMAT, number, line, fields, now)
            continue
        found.append(fields)
        numbers.append(number)
        texts.append(line.decode("utf-8", errors="replace"))
    if not found:
        return
    columns = {
        name: pa.array([fields.get(name) for fields in found], pa.string())
        for name in READ
        if any(name in fields for fields in found)
    }
    build_v2_rows(
        columns,
        np.array(numbers, np.int64),
        lambda: pa.array(texts, pa.string()),
        out,
        now,
        requests,
    )


def _fields(record: Any) -> dict[str, str] | str:
    """The fields certsight reads, as text, keyed by legacy name; or why the record
    cannot be read."""
    if not isinstance(record, dict):
        return "line is JSON but not an object"
    fields: dict[str, str] = {}
    for key, value in record.items():
        name = legacy_name(key)
        if name is None or value is None:
            continue
        kind = type(value)
        if kind is str:
            fields[name] = value
        elif kind is int or kind is float:  # exactly: true is not the number 1
            fields[name] = str(value)
        else:
            return f"{name} is not text or a number"
    return fields
