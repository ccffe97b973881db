"""One request, seen twice: a CDN log line and the responder's own record of it.

CloudFront passes ``X-Amz-Cf-Id`` (its ``x-edge-request-id``) to the origin, which
logs it as ``cf_request_id``. When a CDN row of an OCSP request is ingested and the
responder's record of the same request is already known (in the LAKE, or earlier in
the same run), the CDN row gains what only the origin knew: the OCSP response status,
the certificate status, the issuer, and the responder's latency. The responder's row
stays as written; the warehouse counts the pair once (docs/lake.md). Responder logs
that arrive after the CDN's leave the CDN row as it is, and the warehouse joins them.
"""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from ingest.lake import Lake

KEYS = ["cf_request_id", "serial"]
FROM_ORIGIN = ["response_status", "cert_status", "issuer_key_sha1", "latency_ms"]
_ORIGIN_COLUMNS = [*KEYS, *FROM_ORIGIN]


def origin_rows(part: pa.Table) -> pa.Table | None:
    """The slim part of responder rows a later CDN row may need; None for other rows."""
    if part.num_rows == 0 or part.column("source")[0].as_py() != "lambda":
        return None
    known = part.filter(pc.is_valid(part.column("cf_request_id")))
    return known.select(_ORIGIN_COLUMNS) if known.num_rows else None


def days_around(cdn: pa.Table) -> tuple[str, ...]:
    """The CDN rows' days and the day either side: a request can straddle midnight."""
    first, last = pc.min_max(cdn.column("event_time")).values()
    day = first.as_py().date() - timedelta(days=1)
    days = []
    while day <= last.as_py().date() + timedelta(days=1):
        days.append(day.isoformat())
        day += timedelta(days=1)
    return tuple(days)


def from_lake(lake: Lake, days: tuple[str, ...]) -> pa.Table | None:
    """Responder rows of those days already committed to the LAKE (slim columns only)."""
    folder = lake.where.path("ocsp_requests")
    try:
        dataset = ds.dataset(folder, filesystem=lake.fs, format="parquet", partitioning="hive")
    except (FileNotFoundError, pa.ArrowInvalid):
        return None
    wanted = (
        ds.field("dt").isin(list(days))
        & (ds.field("source") == "lambda")
        & ds.field("cf_request_id").is_valid()
    )
    found = dataset.to_table(columns=_ORIGIN_COLUMNS, filter=wanted)
    return found if found.num_rows else None


def join_origin(cdn: pa.Table, origin: list[pa.Table]) -> pa.Table:
    """``cdn`` with the origin's fields filled in where a responder row matches."""
    if not origin or cdn.num_rows == 0:
        return cdn
    known = (
        pa.concat_tables(origin)
        .group_by(KEYS, use_threads=False)
        .aggregate([(name, "first") for name in FROM_ORIGIN])
        .rename_columns({f"{name}_first": f"_origin_{name}" for name in FROM_ORIGIN})
    )
    order = pa.array(range(cdn.num_rows), pa.int64())
    joined = cdn.append_column("_order", order).join(known, keys=KEYS, join_type="left outer")
    joined = joined.sort_by("_order")
    updated = {
        "response_status": pc.coalesce(
            joined["response_status"], joined["_origin_response_status"]
        ),
        "cert_status": pc.coalesce(joined["cert_status"], joined["_origin_cert_status"]),
        "issuer_key_sha1": pc.coalesce(
            joined["issuer_key_sha1"], joined["_origin_issuer_key_sha1"]
        ),
        "origin_latency_ms": joined["_origin_latency_ms"],
    }
    schema = cdn.schema
    return pa.Table.from_arrays(
        [updated[f.name] if f.name in updated else joined[f.name] for f in schema], schema=schema
    )
