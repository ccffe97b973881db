"""The fast reader: pyarrow's CSV reader over a clean log, a block of lines at a time,
the next block parsed on another thread while this one becomes rows.

It knows no line numbers of its own beyond counting, so it stops at the first thing that
is not a plain data line (a bad row, a header in the middle, a cut gzip) by raising
:class:`Irregular`; the exact reader carries on from there.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

import pyarrow as pa
from pyarrow import csv as pa_csv

from ingest.formats.cloudfront.fields import USED, Irregular
from ingest.storage import open_arrow_stream


def csv_batches(
    uri: str, compressed: bool, header_lines: int, fields: list[str], *, read_ahead: bool = True
) -> Iterator[tuple[dict[str, pa.Array], int]]:
    """The used columns of each block after the ``header_lines`` and how many lines it
    held; :class:`Irregular` at the first block that is not clean. ``read_ahead``: the
    next block is parsed on another thread meanwhile (worth it for large objects only)."""
    irregular = False

    def on_invalid_row(_: object) -> str:
        nonlocal irregular
        irregular = True
        return "error"

    wanted = [name for name in USED if name in fields]
    with open_arrow_stream(uri, compressed) as handle:
        try:  # opening reads the first block already
            reader = pa_csv.open_csv(
                handle,
                read_options=pa_csv.ReadOptions(
                    skip_rows=header_lines, column_names=fields, block_size=32 << 20
                ),
                parse_options=pa_csv.ParseOptions(
                    delimiter="\t",
                    quote_char=False,
                    escape_char=False,
                    ignore_empty_lines=False,
                    invalid_row_handler=on_invalid_row,
                ),
                convert_options=pa_csv.ConvertOptions(
                    column_types=dict.fromkeys(fields, pa.string()),
                    include_columns=wanted,
                    strings_can_be_null=False,
                ),
            )
        except (pa.ArrowInvalid, UnicodeDecodeError, OSError):
            raise Irregular from None

        def next_batch() -> pa.RecordBatch | Irregular | None:
            """The next block; None at the end, Irregular for what the exact reader does."""
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return None
            except (pa.ArrowInvalid, UnicodeDecodeError, OSError):
                # OSError: a truncated gzip; the exact reader quarantines the cut.
                return Irregular()
            return Irregular() if irregular else batch

        if not read_ahead:
            while (batch := next_batch()) is not None:
                if isinstance(batch, Irregular):
                    raise batch
                yield {name: batch.column(name) for name in wanted}, batch.num_rows
            return
        yield from _read_ahead(next_batch, wanted)


def _read_ahead(
    next_batch: Callable[[], pa.RecordBatch | Irregular | None], wanted: list[str]
) -> Iterator[tuple[dict[str, pa.Array], int]]:
    """The blocks ``next_batch`` gives, the next one parsed on another thread (pyarrow
    lets go of the GIL) while this one is turned into rows; at most two blocks wait, so
    memory stays bounded."""
    ahead: queue.Queue[pa.RecordBatch | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def produce() -> None:
        while not stop.is_set():
            try:
                item: pa.RecordBatch | BaseException | None = next_batch()
            except Exception as exc:  # noqa: BLE001 - handed to the reading thread
                item = exc
            while not stop.is_set():
                try:
                    ahead.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if not isinstance(item, pa.RecordBatch):
                return

    producer = threading.Thread(target=produce, name="csv-ahead", daemon=True)
    producer.start()
    try:
        while True:
            item = ahead.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield {name: item.column(name) for name in wanted}, item.num_rows
    finally:
        stop.set()
        producer.join()
