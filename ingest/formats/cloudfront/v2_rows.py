"""Standard logging (v2) fields onto the legacy row builder, so that a JSON or Parquet log
gives the very rows its W3C twin gives, by the same code (``rows.build_rows``).

v2 lets the user pick any fields in any order, names them three ways (``cs(User-Agent)``
in JSON and W3C, ``cs_user_agent`` in Parquet) and may carry numbers as numbers; the
readers turn what they find into text columns keyed by the legacy names. What v2 adds
is handled here: a record may carry ``timestamp(ms)`` instead of ``date`` and ``time``,
and a field certsight needs may be missing from a record rather than from a header.
Fields certsight does not read are ignored, whatever their name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.formats.cloudfront.fields import USED, Irregular
from ingest.formats.cloudfront.rows import build_rows, quarantine_rows
from ingest.formats.cloudfront.stems import StemTable
from ingest.reader import cloudfront_key
from ingest.rows import ObjectRows

TIMESTAMP_MS = "timestamp(ms)"  # v2's real-time field: milliseconds since 1970, UTC
READ = (*USED, TIMESTAMP_MS)
# Without these a record gives no row (the time is date and time, or timestamp(ms)).
NEEDED = ("cs-method", "cs-uri-stem", "sc-status")
_BY_KEY = {cloudfront_key(name): name for name in READ}
_MILLISECONDS = r"^\d{1,14}$"  # up to the year 5138: strftime wraps far beyond
_DIGITS = "up to 14 digits"
_NO_TEXT = pa.scalar(None, pa.string())


@functools.lru_cache(maxsize=4096)
def legacy_name(name: str) -> str | None:
    """The legacy name of a field certsight reads, in any of v2's spellings; None for
    the fields it does not read."""
    return _BY_KEY.get(cloudfront_key(name))


def build_v2_rows(
    columns: dict[str, pa.Array],
    line_numbers: np.ndarray,
    text_of: Callable[[], pa.Array],
    out: ObjectRows,
    now: datetime,
    requests: StemTable,
) -> None:
    """Rows of one block of v2 records: ``columns`` are text keyed by legacy name (null
    where a record lacks the field, absent when no record has it), ``text_of`` gives each
    record's text for the quarantine, only when something is quarantined."""
    count = len(line_numbers)
    date, time, reasons = _times(columns, count)
    for name in NEEDED:
        missing = pc.is_null(columns.get(name, pa.nulls(count, pa.string())))
        for index in np.flatnonzero(missing.to_numpy(zero_copy_only=False)).tolist():
            reasons[index] = reasons[index] or f"{name} is missing"
    bad = np.array([reason is not None for reason in reasons], bool)
    texts: list[pa.Array] = []

    def text() -> pa.Array:
        if not texts:
            texts.append(text_of())
        return texts[0]

    if bad.any():
        quarantine_rows(out, now, text(), line_numbers, bad, [r or "" for r in reasons])
    keep = pa.array(~bad)
    kept = {name: columns[name].filter(keep) for name in USED if name in columns}
    kept["date"], kept["time"] = date.filter(keep), time.filter(keep)
    # Empty values as the W3C logs write them, so each rule sees what it always sees.
    kept = {name: pc.fill_null(column, "-") for name, column in kept.items()}
    lines = line_numbers[~bad]
    if len(lines) == 0:
        return
    try:
        build_rows(kept, None, lines, out, now, requests)
    except Irregular:  # a bad value: again, with each record's text for its quarantine
        build_rows(kept, text().filter(keep), lines, out, now, requests)


def _times(columns: dict[str, pa.Array], count: int) -> tuple[pa.Array, pa.Array, list[str | None]]:
    """Each record's date and time, from ``timestamp(ms)`` where the record has no date
    and time of its own (cut to the second, as the W3C logs write them), and the reason
    for each record that has no usable time."""
    nothing = pa.nulls(count, pa.string())
    date, time = columns.get("date", nothing), columns.get("time", nothing)
    needs = pc.or_kleene(pc.is_null(date), pc.is_null(time))
    reasons: list[str | None] = [None] * count
    stamp = columns.get(TIMESTAMP_MS)
    if stamp is not None:
        whole = pc.match_substring_regex(stamp, _MILLISECONDS)
        milliseconds = pc.if_else(whole, stamp, _NO_TEXT).cast(pa.int64())
        # Whole seconds: strftime's %S would print the milliseconds too.
        moment = pc.divide(milliseconds, 1000).cast(pa.timestamp("s"))
        date = pc.if_else(needs, pc.strftime(moment, format="%Y-%m-%d"), date)
        time = pc.if_else(needs, pc.strftime(moment, format="%H:%M:%S"), time)
        not_whole = pc.and_(pc.is_valid(stamp), pc.invert(pc.fill_null(whole, False)))
        for index in np.flatnonzero(
            pc.and_(needs, not_whole).to_numpy(zero_copy_only=False)
        ).tolist():
            reasons[index] = f"{TIMESTAMP_MS} is not a whole number of milliseconds ({_DIGITS})"
    missing = pc.or_kleene(pc.is_null(date), pc.is_null(time)).to_numpy(zero_copy_only=False)
    for index in np.flatnonzero(missing).tolist():
        reasons[index] = reasons[index] or f"date/time (or {TIMESTAMP_MS}) is missing"
    return date, time, reasons
