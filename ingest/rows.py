"""Where readers put what they read: rows per LAKE table, and quarantine with reasons.

Readers never drop anything: a record either becomes rows or one quarantine row,
so that for every object records read = records written + records quarantined.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from ingest.conform import problem
from ingest.schema import TABLES

RAW_LIMIT = 2000
_HEX_EVEN = re.compile(r"(?:[0-9a-f]{2})+")


class RecordError(ValueError):
    """A record that cannot become rows; the message is the quarantine reason."""


@dataclass
class ObjectRows:
    """What has been read from one RAW object and not yet handed on.

    With ``spill`` set, every ``spill_rows`` rows are handed on as they come, so a
    single huge object (a CRL of millions of entries, a day of CDN logs) never has
    to fit in memory; the counts keep covering the whole object.
    """

    source_object: str
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    records_read: int = 0
    records_written: int = 0
    arrow: dict[str, list[pa.Table]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    quarantine_count: int = 0
    spill: Callable[[dict[str, list[pa.Table]]], None] | None = None
    spill_rows: int = 200_000
    _buffered: int = 0

    def add(self, table: str, row: dict[str, Any]) -> None:
        """One row, checked against its table first: RecordError names the field that
        does not fit, so the reader quarantines the record instead of the Parquet write
        failing for every row of the run."""
        self.add_all([(table, row)])

    def add_all(self, rows: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """The rows one record makes: all of them, or (RecordError) none."""
        for table, row in rows:
            reason = problem(table, row)
            if reason is not None:
                raise RecordError(reason)
        for table, row in rows:
            self.rows.setdefault(table, []).append(row)
            self.counts[table] = self.counts.get(table, 0) + 1
        self._grew(len(rows))

    def add_arrow(self, table: str, data: pa.Table) -> None:
        """Rows a vectorised reader made, already in the table's schema."""
        if data.num_rows:
            waiting = self.rows.pop(table, None)
            if waiting:  # rows added one by one before these stay before them
                self.arrow.setdefault(table, []).append(
                    pa.Table.from_pylist(waiting, TABLES[table].schema)
                )
            self.arrow.setdefault(table, []).append(data)
            self.counts[table] = self.counts.get(table, 0) + data.num_rows
            self._grew(data.num_rows)

    def _grew(self, count: int) -> None:
        self._buffered += count
        if self.spill is not None and self._buffered >= self.spill_rows:
            self.spill(self.take())

    def take(self) -> dict[str, list[pa.Table]]:
        """Hand over the buffered rows as Arrow tables (quarantine as its own table) and
        forget them."""
        taken: dict[str, list[pa.Table]] = {k: list(v) for k, v in self.arrow.items()}
        for name, rows in self.rows.items():
            taken.setdefault(name, []).append(pa.Table.from_pylist(rows, TABLES[name].schema))
        if self.quarantined:
            taken.setdefault("quarantine", []).append(
                pa.Table.from_pylist(self.quarantined, TABLES["quarantine"].schema)
            )
        self.rows, self.arrow, self.quarantined, self._buffered = {}, {}, [], 0
        return taken

    def all_rows(self, table: str) -> list[dict[str, Any]]:
        """Every buffered row of a table as dicts, whichever reader made it (for tests)."""
        made = [row for data in self.arrow.get(table, []) for row in data.to_pylist()]
        return made + self.rows.get(table, [])

    def quarantine(
        self, source: str, line: int | None, raw: bytes | str, reason: str, now: datetime
    ) -> None:
        text = raw if isinstance(raw, str) else raw.decode("utf-8", errors="replace")
        self.quarantined.append(
            {
                "source": source,
                "source_object": self.source_object,
                "line": line,
                "raw": text[:RAW_LIMIT],
                "reason": reason[:RAW_LIMIT],
                "ingested_at": now,
            }
        )
        self.quarantine_count += 1
        self._grew(1)

    def row_counts(self) -> dict[str, int]:
        return dict(self.counts)


def timestamp(value: Any, name: str) -> datetime:
    """An ISO 8601 time with an offset or ``Z``, as UTC; RecordError otherwise."""
    if not isinstance(value, str):
        raise RecordError(f"{name} is missing or not a string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RecordError(f"{name} is not an ISO 8601 time: {value[:40]!r}") from None
    if moment.tzinfo is None:
        raise RecordError(f"{name} has no time zone: {value[:40]!r}")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00 is in year 10000 in UTC
        raise RecordError(f"{name} is out of range in UTC: {value[:40]!r}") from None


def optional_timestamp(value: Any, name: str) -> datetime | None:
    return None if value is None else timestamp(value, name)


def text(value: Any, name: str, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise RecordError(f"{name} is {'missing' if value is None else 'not a string'}")
    return value


def integer(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"{name} is not an integer")
    return int(value)


def number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"{name} is not a number")
    return float(value)


def flag(value: Any, name: str) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise RecordError(f"{name} is not true or false")
    return value


def hex_text(value: Any, name: str, *, required: bool = False) -> str | None:
    """Lowercase hex with an even number of digits: the LAKE's spelling of serials and hashes."""
    found = text(value, name, required=required)
    if found is not None and not _HEX_EVEN.fullmatch(found):
        raise RecordError(f"{name} is not lowercase even-length hex: {found[:60]!r}")
    return found
