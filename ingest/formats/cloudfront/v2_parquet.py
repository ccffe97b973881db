"""CloudFront standard logging (v2) in Parquet (S3 deliveries only): one column per
selected field, named with underscores (``cs_user_agent``, ``sc_status``), every value
text in AWS's own schema.

Only the columns certsight reads are fetched, a batch of rows at a time (from S3 by
ranged reads), so memory stays bounded. Numbers, dates and text all become text first,
then go the way a W3C line goes. A record's "line" is its row number, from 1; a
quarantined row keeps the columns read, as a JSON object, for its raw text.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.formats.cloudfront.fields import FORMAT
from ingest.formats.cloudfront.rows import quarantine_rows
from ingest.formats.cloudfront.stems import StemTable
from ingest.formats.cloudfront.v2_rows import build_v2_rows, legacy_name
from ingest.rows import ObjectRows
from ingest.storage import open_random_access

BATCH_ROWS = 65_536


def read_parquet(uri: str, out: ObjectRows, now: datetime, requests: StemTable) -> None:
    """Rows of every row of the object; a row group that cannot be read is quarantined
    as one record, after every row before it has been read."""
    with open_random_access(uri) as handle:
        parquet = pq.ParquetFile(handle)
        names: dict[str, str] = {}  # column -> legacy name, the first column of each
        for column in parquet.schema_arrow.names:
            name = legacy_name(column)
            if name is not None and name not in names.values():
                names[column] = name
        # With nothing certsight reads, one column still gives the rows to quarantine.
        wanted = list(names) or parquet.schema_arrow.names[:1]
        batches = parquet.iter_batches(batch_size=BATCH_ROWS, columns=wanted)
        done = 0
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (pa.ArrowException, OSError) as exc:
                out.records_read += 1
                reason = f"Parquet unreadable from row {done + 1}: {exc}"
                out.quarantine(FORMAT, done + 1, "", reason, now)
                return
            _read_batch(batch, names, done, out, now, requests)
            done += batch.num_rows


def _read_batch(
    batch: pa.RecordBatch,
    names: dict[str, str],
    done: int,
    out: ObjectRows,
    now: datetime,
    requests: StemTable,
) -> None:
    line_numbers = np.arange(done + 1, done + 1 + batch.num_rows, dtype=np.int64)
    columns: dict[str, pa.Array] = {}
    for column, name in names.items():
        values = batch.column(column)
        try:
            columns[name] = values.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            reason = f"{column} holds {values.type}, not text or a number"
            quarantine_rows(out, now, _texts(batch), line_numbers, None, reason)
            return
    build_v2_rows(columns, line_numbers, lambda: _texts(batch), out, now, requests)


def _texts(batch: pa.RecordBatch) -> pa.Array:
    """Each row as a JSON object of the columns read, for the quarantine's raw text."""
    rows = batch.to_pylist()
    return pa.array([orjson.dumps(row, default=str).decode() for row in rows], pa.string())
