"""One request, seen twice: a CDN log line and the responder's own record of it.

CloudFront passes ``X-Amz-Cf-Id`` (its ``x-edge-request-id``) to the origin, which
logs it as ``cf_request_id``. When a CDN row of an OCSP request is ingested and the
responder's record of the same request is already known (in the LAKE, or earlier in
the same run), the CDN row gains what only the origin knew: the OCSP response status,
the certificate status, the issuer, and the responder's latency. The responder's row
stays as written; the warehouse counts the pair once (docs/lake.md). Responder logs
that arrive after the CDN's leave the CDN row as it is, and the warehouse joins them.

A run reads hundreds of CDN objects of a few hundred rows each, so the join is not
done per object: that rebuilt a hash table of every responder row of the run for
each object (quadratic: most of a 50-second ingest). :class:`OriginIndex` instead
remembers when each CDN object arrived (how many responder rows the run had read by
then) and joins every CDN row waiting to be staged in one go, with the same result:
a CDN row only sees the responder rows read before its object, then the committed
ones of the days around its object.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from ingest.lake import Lake
from ingest.schema import TABLES

KEYS = ["cf_request_id", "serial"]
FROM_ORIGIN = ["response_status", "cert_status", "issuer_key_sha1", "latency_ms"]
_ORIGIN_COLUMNS = [*KEYS, *FROM_ORIGIN]

# Working columns. A responder row's rank orders the candidates of one CDN row as the
# old lookup saw them: the run's own rows first (rank = position in the run), then the
# committed ones (rank >= _COMMITTED, in day order), so that "first" picks the same row.
_ORDER = "_order"  # a CDN row's position in the batch being joined
_SEEN = "_seen"  # responder rows the run had read when the CDN row's object came
_RANK = "_rank"
_DAY = "_day"  # a committed responder row's day (days since the epoch)
_FIRST_DAY, _LAST_DAY = "_first_day", "_last_day"  # the days a CDN row may look at
_CANDIDATE_COLUMNS = [*_ORIGIN_COLUMNS, _RANK, _DAY]
_COMMITTED = 1 << 62
_EPOCH = date(1970, 1, 1)


def origin_rows(part: pa.Table) -> pa.Table | None:
    """The slim part of responder rows a later CDN row may need; None for other rows."""
    if part.num_rows == 0 or part.column("source")[0].as_py() != "lambda":
        return None
    known = part.filter(pc.is_valid(part.column("cf_request_id")))
    return known.select(_ORIGIN_COLUMNS) if known.num_rows else None


def day_span(cdn: pa.Table) -> tuple[date, date]:
    """The CDN rows' days and the day either side: a request can straddle midnight."""
    first, last = pc.min_max(cdn.column("event_time")).values()
    return (
        first.as_py().date() - timedelta(days=1),
        last.as_py().date() + timedelta(days=1),
    )


def from_lake(lake: Lake, day: str) -> pa.Table | None:
    """Responder rows of one day already committed to the LAKE (slim columns only).

    Only that day's folder is listed and read: a LAKE of months of hourly files is
    not listed for every lookup."""
    folder = lake.where.path("ocsp_requests", f"dt={day}")
    try:
        dataset = ds.dataset(
            folder, filesystem=lake.fs, format="parquet", schema=TABLES["ocsp_requests"].schema
        )
        wanted = (ds.field("source") == "lambda") & ds.field("cf_request_id").is_valid()
        found = dataset.to_table(columns=_ORIGIN_COLUMNS, filter=wanted)
    except (FileNotFoundError, pa.ArrowInvalid):
        return None
    return found if found.num_rows else None


def _int64(values: np.ndarray) -> pa.Array:
    return pa.array(values, pa.int64())


class OriginIndex:
    """The responder rows that CDN rows of one run may join.

    Holds the slim responder rows the run has read (as the old per-object join did),
    and the committed ones of each day it was asked about, each day read once per run
    (the LAKE does not change while the run holds its lock)."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._run: list[pa.Table] = []
        self._seen = 0
        self._days: dict[date, pa.Table | None] = {}

    @property
    def seen(self) -> int:
        """How many responder rows the run has read so far: a CDN object's arrival."""
        return self._seen

    def remember(self, part: pa.Table) -> None:
        """Responder rows (other rows are ignored) become visible to later CDN rows."""
        slim = origin_rows(part)
        if slim is None:
            return
        rank = _int64(np.arange(self._seen, self._seen + slim.num_rows))
        self._run.append(slim.append_column(_RANK, rank))
        self._seen += slim.num_rows

    def join(self, parts: list[tuple[pa.Table, int]]) -> list[pa.Table]:
        """Each CDN part, given with :attr:`seen` at its arrival, with the origin's fields
        filled in where a responder row of the same (cf_request_id, serial) was read
        before it in this run or is committed on the days around it."""
        unchanged = [part for part, _ in parts]
        committed = self._committed(parts)
        if not self._run and not committed:
            return unchanged
        cdn = pa.concat_tables(unchanged)
        ids = pc.drop_null(pc.unique(cdn.column("cf_request_id")))
        candidates = self._candidates(ids, committed) if len(ids) else None
        if candidates is None:
            return unchanged
        found = _first_matches(cdn, parts, candidates)
        joined = _with_origin_fields(cdn, found)
        out, offset = [], 0
        for part in unchanged:
            out.append(joined.slice(offset, part.num_rows))
            offset += part.num_rows
        return out

    def _committed(self, parts: list[tuple[pa.Table, int]]) -> list[tuple[date, pa.Table]]:
        """The committed responder rows of the days around the parts, by day."""
        days: set[date] = set()
        for part, _ in parts:
            if part.num_rows:
                first, last = day_span(part)
                days.update(first + timedelta(days=n) for n in range((last - first).days + 1))
        for day in days - self._days.keys():
            self._days[day] = from_lake(self.lake, day.isoformat())
        return [(day, rows) for day in sorted(days) if (rows := self._days[day]) is not None]

    def _candidates(self, ids: pa.Array, committed: list[tuple[date, pa.Table]]) -> pa.Table | None:
        """Responder rows whose cf_request_id is on one of the CDN rows: a hash of the
        CDN's ids probed by the responder rows, far cheaper than hashing them all."""
        found: list[pa.Table] = []
        if self._run:
            run = pa.concat_tables(self._run)
            run = run.filter(pc.is_in(run.column("cf_request_id"), value_set=ids))
            found.append(run.append_column(_DAY, pa.nulls(run.num_rows, pa.int32())))
        in_lake = []
        for day, rows in committed:
            matching = rows.filter(pc.is_in(rows.column("cf_request_id"), value_set=ids))
            ordinal = np.full(matching.num_rows, (day - _EPOCH).days, np.int32)
            in_lake.append(matching.append_column(_DAY, pa.array(ordinal)))
        if in_lake:
            rows = pa.concat_tables(in_lake)
            rank = _int64(np.arange(_COMMITTED, _COMMITTED + rows.num_rows))
            found.append(rows.append_column(_RANK, rank))
        found = [table.select(_CANDIDATE_COLUMNS) for table in found if table.num_rows]
        return pa.concat_tables(found) if found else None


def _first_matches(
    cdn: pa.Table, parts: list[tuple[pa.Table, int]], candidates: pa.Table
) -> pa.Table:
    """For each CDN row (by position) that has any, the first non-null value of each
    origin field among its visible candidates in rank order: what grouping the
    responder rows with "first" and joining them did, one object at a time."""
    sizes = np.array([part.num_rows for part, _ in parts], np.int64)
    spans = [day_span(part) if part.num_rows else (_EPOCH, _EPOCH) for part, _ in parts]
    keys = cdn.select(KEYS).append_column(_ORDER, _int64(np.arange(cdn.num_rows)))
    for name, per_part in (
        (_SEEN, [seen for _, seen in parts]),
        (_FIRST_DAY, [(first - _EPOCH).days for first, _ in spans]),
        (_LAST_DAY, [(last - _EPOCH).days for _, last in spans]),
    ):
        keys = keys.append_column(name, _int64(np.repeat(np.array(per_part), sizes)))
    pairs = keys.join(candidates, keys=KEYS, join_type="inner")
    visible = pc.less(pairs.column(_RANK), pairs.column(_SEEN))  # read before the CDN row
    in_days = pc.and_(
        pc.greater_equal(pairs.column(_DAY), pairs.column(_FIRST_DAY)),
        pc.less_equal(pairs.column(_DAY), pairs.column(_LAST_DAY)),
    )
    pairs = pairs.filter(pc.or_kleene(visible, pc.fill_null(in_days, False)))
    return (
        pairs.sort_by(_RANK)
        .group_by(_ORDER, use_threads=False)
        .aggregate([(name, "first") for name in FROM_ORIGIN])
        .rename_columns({f"{name}_first": name for name in FROM_ORIGIN})
    )


def _with_origin_fields(cdn: pa.Table, found: pa.Table) -> pa.Table:
    """``cdn`` with ``found`` (origin fields by CDN row position) filled in."""
    where = np.full(cdn.num_rows, -1, np.int64)
    where[found.column(_ORDER).to_numpy()] = np.arange(found.num_rows)
    index = pa.array(where, mask=where < 0)
    origin = {name: found.column(name).take(index) for name in FROM_ORIGIN}
    updated = {
        "response_status": pc.coalesce(cdn["response_status"], origin["response_status"]),
        "cert_status": pc.coalesce(cdn["cert_status"], origin["cert_status"]),
        "issuer_key_sha1": pc.coalesce(cdn["issuer_key_sha1"], origin["issuer_key_sha1"]),
        "origin_latency_ms": origin["latency_ms"],
    }
    schema = cdn.schema
    return pa.Table.from_arrays(
        [updated[f.name] if f.name in updated else cdn[f.name] for f in schema], schema=schema
    )
