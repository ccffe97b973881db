"""Does a row fit its LAKE table? Every value against its column's type and range.

A value that Arrow cannot hold (an ``int32`` status of 99999999999, a time beyond
what a timestamp column can hold, a list where a string belongs) does not fail where it
is read: it fails later, when the whole batch of rows is written to Parquet, and takes
every neighbour with it -- and every later run, which reads the same object again. So
each row is checked here, where the reader can still quarantine the one record with
the field and the reason, and the Parquet write never meets a value it cannot take.

The limits are the column's Arrow type, the ``minimum``/``maximum`` the schema gives
(a status is 0..999, byte counts are not negative), and two the LAKE sets for all
columns: texts of at most ``MAX_TEXT_CHARS`` characters (a log field longer than that
is not a log field but an attack on whoever reads it) and times from ``EARLIEST`` on
(X.509 times start in 1950; nothing certsight records happened before).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ingest.schema import TABLES, Column

MAX_TEXT_CHARS = 8192
MAX_LIST_ITEMS = 10_000
EARLIEST = datetime(1950, 1, 1, tzinfo=UTC)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EARLIEST_US = (EARLIEST - _EPOCH) // timedelta(microseconds=1)
_LATEST_US = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
Check = Callable[[Any], str | None]  # a reason, or None when the value fits


def problem(table: str, row: dict[str, Any]) -> str | None:
    """Why ``row`` cannot be a row of ``table`` (naming the field), or None when it can."""
    for name, check in _checks(table):
        reason = check(row.get(name))
        if reason is not None:
            return f"{name}: {reason}"
    return None


def arrow_problem(table: str, data: pa.Table) -> str | None:
    """The same limits over a column-wise batch: the first column with a value outside
    them, or None. Vectorised readers fall back to reading record by record on a
    problem, which gives the offending record its own quarantine reason."""
    for column in TABLES[table].columns:
        if column.name not in data.column_names:
            continue
        values = data.column(column.name)
        reason = _arrow_column_problem(column, values)
        if reason is not None:
            return f"{column.name}: {reason}"
    return None


@functools.cache
def _checks(table: str) -> tuple[tuple[str, Check], ...]:
    return tuple((column.name, _check_for(column)) for column in TABLES[table].columns)


def _check_for(column: Column) -> Check:
    kind = column.type
    if pa.types.is_list(kind):
        item = _check_for(Column(column.name, kind.value_type, "", nullable=False))
        return _nullable(column, _list_check(item))
    if pa.types.is_string(kind):
        return _nullable(column, _text)
    if pa.types.is_boolean(kind):
        return _nullable(column, _flag)
    if pa.types.is_integer(kind):
        return _nullable(column, _integer_check(*_bounds(column)))
    if pa.types.is_floating(kind):
        return _nullable(column, _number_check(*_bounds(column)))
    if pa.types.is_timestamp(kind):
        return _nullable(column, _time)
    raise TypeError(f"no check for a {kind} column ({column.name})")  # a schema change


def _nullable(column: Column, check: Check) -> Check:
    if column.nullable:
        return lambda value: None if value is None else check(value)
    return lambda value: "is missing" if value is None else check(value)


def _bounds(column: Column) -> tuple[float, float]:
    kind = column.type
    if pa.types.is_integer(kind):
        width = kind.bit_width
        low: float = -(2 ** (width - 1)) if pa.types.is_signed_integer(kind) else 0
        high: float = 2 ** (width - 1) - 1 if pa.types.is_signed_integer(kind) else 2**width - 1
    else:
        low, high = -math.inf, math.inf
    if column.minimum is not None:
        low = max(low, column.minimum)
    if column.maximum is not None:
        high = min(high, column.maximum)
    return low, high


def _text(value: Any) -> str | None:
    if type(value) is not str:
        return f"is {_kind(value)}, not text"
    if len(value) > MAX_TEXT_CHARS:
        return f"is {len(value):,} characters long (at most {MAX_TEXT_CHARS:,})"
    return None


def _flag(value: Any) -> str | None:
    return None if type(value) is bool else f"is {_kind(value)}, not true or false"


def _integer_check(low: float, high: float) -> Check:
    def check(value: Any) -> str | None:
        if type(value) is not int:
            return f"is {_kind(value)}, not an integer"
        if not low <= value <= high:
            return f"{_short(value)} is out of range ({_range(low, high)})"
        return None

    return check


def _number_check(low: float, high: float) -> Check:
    def check(value: Any) -> str | None:
        if type(value) not in (int, float):
            return f"is {_kind(value)}, not a number"
        if not math.isfinite(value) or not low <= value <= high:
            return f"{_short(value)} is out of range ({_range(low, high)})"
        return None

    return check


def _time(value: Any) -> str | None:
    if type(value) is not datetime:
        return f"is {_kind(value)}, not a time"
    if value.tzinfo is None:
        return "has no time zone"
    if value < EARLIEST:
        return f"{value.isoformat()} is before {EARLIEST.year}"
    return None


def _list_check(item: Check) -> Check:
    def check(value: Any) -> str | None:
        if type(value) is not list:
            return f"is {_kind(value)}, not a list"
        if len(value) > MAX_LIST_ITEMS:
            return f"has {len(value):,} items (at most {MAX_LIST_ITEMS:,})"
        for index, element in enumerate(value):
            reason = item(element)
            if reason is not None:
                return f"item {index} {reason}"
        return None

    return check


def _arrow_column_problem(column: Column, values: pa.ChunkedArray) -> str | None:
    if not column.nullable and values.null_count:
        return "is missing"
    kind = column.type
    if pa.types.is_string(kind) and values.type == kind:
        longest = pc.max(pc.utf8_length(values)).as_py()
        if longest is not None and longest > MAX_TEXT_CHARS:
            return f"is {longest:,} characters long (at most {MAX_TEXT_CHARS:,})"
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
        low, high = _bounds(column)
        extremes = pc.min_max(values).as_py()
        least, most = extremes["min"], extremes["max"]
        if least is not None and (
            least < low or most > high or not (math.isfinite(least) and math.isfinite(most))
        ):
            return f"{_short(least)}..{_short(most)} is out of range ({_range(low, high)})"
    elif pa.types.is_timestamp(kind):
        # Arrow reads times a Python datetime cannot hold (year 10000 in UTC): compare
        # as integers so the check itself cannot overflow.
        as_numbers = values.cast(kind).cast(pa.int64())
        extremes = pc.min_max(as_numbers).as_py()
        if extremes["min"] is not None and not (
            extremes["min"] >= _EARLIEST_US and extremes["max"] <= _LATEST_US
        ):
            return f"a time is outside {EARLIEST.year}..{datetime.max.year}"
    return None


def _kind(value: Any) -> str:
    names = {
        type(None): "missing",
        bool: "true/false",
        int: "an integer",
        float: "a number",
        str: "text",
        list: "a list",
        dict: "an object",
    }
    return names.get(type(value), type(value).__name__)


def _short(value: float) -> str:
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:21]}..."


def _range(low: float, high: float) -> str:
    def spell(bound: float) -> str:
        return f"{int(bound):,}" if math.isfinite(bound) else ("-inf" if bound < 0 else "inf")

    if math.isinf(high):
        return f"at least {spell(low)}"
    return f"{spell(low)}..{spell(high)}"
