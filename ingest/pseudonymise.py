"""Client addresses in LAKE rows replaced by keyed pseudonyms: the row-level half of
retention (``ingest/retention.py`` decides which files, and swaps them in).

The pseudonyms are the dashboards' own (``dashboards/privacy.py``: HMAC-SHA-256 under the
home's key, ``client-<16 hex>``), so a client keeps one name in the LAKE, the warehouse,
the pages and the exports. certsight hands them in as functions: the ingest imports
nothing of the dashboards. A value that already is a pseudonym is left alone, so a file
pseudonymised twice is the file pseudonymised once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from ingest.schema import TABLES

ADDRESS_COLUMNS: Mapping[str, tuple[str, ...]] = {
    name: ("client_ip",) for name, table in TABLES.items() if "client_ip" in table.names
}
"""Columns that hold a client's address and nothing else, per table."""

TEXT_COLUMNS: Mapping[str, tuple[str, ...]] = {"quarantine": ("raw", "reason")}
"""Free text that may quote an address: the record as read (a log line holds the viewer's
address) and the reason (which may quote the value it refused)."""


@dataclass(frozen=True)
class Pseudonyms:
    """How addresses become pseudonyms, with the key already inside the functions."""

    of: Callable[[str], str]  # a whole value -> its pseudonym
    in_text: Callable[[str], str]  # text -> the same text, every address in it replaced
    pattern: str  # a regular expression a whole pseudonym matches


@dataclass(frozen=True)
class Pseudonymised:
    data: pa.Table
    values: int  # cells that changed


def tables_with_addresses() -> tuple[str, ...]:
    return (*ADDRESS_COLUMNS, *(t for t in TEXT_COLUMNS if t not in ADDRESS_COLUMNS))


def pseudonymise(data: pa.Table, table: str, pseudonyms: Pseudonyms) -> Pseudonymised:
    """``data`` (rows of LAKE table ``table``) with every client address replaced; the
    rows, their order and every other column stay exactly as they were."""
    changed = 0
    for name in ADDRESS_COLUMNS.get(table, ()):
        if name in data.column_names:
            column, count = _addresses(data.column(name), pseudonyms)
            data, changed = _set(data, name, column), changed + count
    for name in TEXT_COLUMNS.get(table, ()):
        if name in data.column_names:
            column, count = _texts(data.column(name), pseudonyms)
            data, changed = _set(data, name, column), changed + count
    return Pseudonymised(data, changed)


def _set(data: pa.Table, name: str, column: pa.Array) -> pa.Table:
    index = data.schema.get_field_index(name)
    return data.set_column(index, data.schema.field(index), column)


def _replace(array: pa.Array, where: pa.Array, distinct: pa.Array, mapped: list[str]) -> pa.Array:
    """``array`` with each value at ``where`` replaced by its entry in ``mapped`` (in the
    order of ``distinct``): one call of the Python function per distinct value."""
    replacements = pc.take(pa.array(mapped, array.type), pc.index_in(array, value_set=distinct))
    return pc.if_else(where, replacements, array)


def _addresses(column: pa.ChunkedArray, pseudonyms: Pseudonyms) -> tuple[pa.Array, int]:
    array = column.combine_chunks()
    known = pc.match_substring_regex(array, f"^(?:{pseudonyms.pattern})$")
    raw = pc.fill_null(pc.and_kleene(pc.is_valid(array), pc.invert(known)), False)
    count = int(pc.sum(raw).as_py() or 0)
    if count == 0:
        return array, 0
    distinct = pc.unique(array.filter(raw))
    mapped = [pseudonyms.of(value) for value in distinct.to_pylist()]
    return _replace(array, raw, distinct, mapped), count


def _texts(column: pa.ChunkedArray, pseudonyms: Pseudonyms) -> tuple[pa.Array, int]:
    array = column.combine_chunks()
    present = pc.is_valid(array)
    distinct = pc.unique(array.filter(present))
    values = distinct.to_pylist()
    mapped = [pseudonyms.in_text(value) for value in values]
    if mapped == values:
        return array, 0
    out = _replace(array, present, distinct, mapped)
    return out, int(pc.sum(pc.not_equal(out, array)).as_py() or 0)
