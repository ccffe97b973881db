"""One ingest: read the RAW objects not yet in the LAKE, write their rows, commit.

Rows of many objects are batched into one run (files of sensible size rather than
one per object). Rows are staged to Parquet every ``MAX_BUFFERED_ROWS`` rows, also
in the middle of a large object, so memory stays bounded however much RAW is
waiting; the run is committed once, at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

from ingest.formats.certificates import fingerprint, read_certificates
from ingest.formats.cloudfront import StemTable, read_cloudfront
from ingest.formats.responder_logs import read_json_lines
from ingest.lake import Lake, RunManifest, new_run_id
from ingest.locking import lake_lock
from ingest.origin_join import days_around, from_lake, join_origin, origin_rows
from ingest.reader import TruncatedObjectError, lines, read_all, sniff
from ingest.rows import ObjectRows
from ingest.schema import TABLES
from ingest.sources import SourceObject

MAX_BUFFERED_ROWS = 200_000


@dataclass
class SourceReport:
    uri: str
    format: str
    records_read: int = 0
    records_written: int = 0
    quarantined: int = 0
    rows: dict[str, int] = field(default_factory=dict)


@dataclass
class IngestReport:
    sources: list[SourceReport] = field(default_factory=list)
    already_ingested: int = 0
    runs: list[str] = field(default_factory=list)
    rolled_forward: int = 0
    rolled_back: int = 0


def read_object(
    source: SourceObject,
    now: datetime,
    requests: StemTable | None = None,
    spill: Callable[[dict[str, list[pa.Table]]], None] | None = None,
) -> tuple[SourceReport, ObjectRows]:
    opened = sniff(source.uri)
    report = SourceReport(source.uri, opened.format)
    out = ObjectRows(source.uri, spill=spill)
    if opened.format in ("json-lines", "cloudfront", "pem", "der"):
        try:
            if opened.format == "json-lines":
                read_json_lines(lines(source.uri, opened.compressed), out, now)
            elif opened.format == "cloudfront":
                cache = StemTable() if requests is None else requests
                read_cloudfront(source.uri, opened.compressed, out, now, cache)
            else:
                read_certificates(read_all(source.uri, opened.compressed), opened.format, out, now)
        except TruncatedObjectError as exc:
            out.records_read += 1
            out.quarantine(opened.format, exc.line + 1, b"", str(exc), now)
    elif opened.format == "corrupt":
        out.records_read += 1
        out.quarantine("gzip", None, "", "truncated or corrupt gzip: nothing readable", now)
    elif opened.format == "unknown":
        out.records_read += 1
        out.quarantine(
            "unknown",
            None,
            fingerprint(read_all(source.uri, opened.compressed)),
            "not a format certsight reads (by content)",
            now,
        )
    report.records_read = out.records_read
    report.records_written = out.records_written
    report.quarantined = out.quarantine_count
    report.rows = out.row_counts()
    return report, out


class _Run:
    """One ingest run: rows are staged as they pile up, committed once at the end."""

    def __init__(self, lake: Lake, now: datetime) -> None:
        self.lake = lake
        self.manifest = RunManifest(new_run_id(now), now.isoformat())
        self.tables: dict[str, list[pa.Table]] = {}
        self.buffered = 0
        self._sequence = 0
        # Parquet is written on a second thread (pyarrow lets go of the GIL) while the
        # next rows are read; one write in flight at a time keeps memory bounded.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stage")
        self._pending: Future[list[str]] | None = None
        self._origin: list[pa.Table] = []  # responder rows of this run, for CDN rows
        self._committed_origin: dict[tuple[str, ...], pa.Table | None] = {}

    def absorb(self, tables: dict[str, list[pa.Table]]) -> None:
        for table, parts in tables.items():
            if table == "ocsp_requests":
                parts = [self._with_origin(part) for part in parts]  # noqa: PLW2901
            self.tables.setdefault(table, []).extend(parts)
            self.buffered += sum(part.num_rows for part in parts)
        if self.buffered >= MAX_BUFFERED_ROWS:
            self.stage()

    def _with_origin(self, part: pa.Table) -> pa.Table:
        """CDN rows gain the responder's view of the same request (ingest/origin_join.py);
        responder rows are remembered for CDN rows later in this run."""
        if part.num_rows == 0:
            return part
        if part.column("source")[0].as_py() != "cloudfront":
            slim = origin_rows(part)
            if slim is not None:
                self._origin.append(slim)
            return part
        days = days_around(part)
        if days not in self._committed_origin:  # read each span of days once per run
            self._committed_origin[days] = from_lake(self.lake, days)
        committed = self._committed_origin[days]
        return join_origin(part, [*self._origin, *([committed] if committed is not None else [])])

    def stage(self) -> None:
        self._wait()
        tables, sequence = self.tables, self._sequence
        self._sequence += 1
        self.tables, self.buffered = {}, 0
        self._pending = self._writer.submit(self._write, tables, sequence)

    def _write(self, tables: dict[str, list[pa.Table]], sequence: int) -> list[str]:
        files = []
        for table, parts in tables.items():
            files += self.lake.stage(
                self.manifest.run_id, TABLES[table], pa.concat_tables(parts), sequence
            )
        return files

    def _wait(self) -> None:
        if self._pending is not None:
            self.manifest.files += self._pending.result()  # a failed write fails the run
            self._pending = None

    def add(self, source: SourceObject, report: SourceReport, rows: ObjectRows) -> None:
        self.absorb(rows.take())
        self.manifest.sources.append(
            {
                "key": source.key,
                "uri": source.uri,
                "size": source.size,
                "version": source.version,
                "format": report.format,
                "records_read": report.records_read,
                "records_written": report.records_written,
                "quarantined": report.quarantined,
                "rows": report.rows,
            }
        )

    def flush(self) -> None:
        """Everything absorbed so far is in staging, and listed in the manifest."""
        self.stage()
        self._wait()

    def finish(self) -> str | None:
        try:
            if not self.manifest.sources:
                return None
            self.flush()
        finally:
            self._writer.shutdown()
        self.lake.commit(self.manifest)
        self.lake.publish(self.manifest)
        return self.manifest.run_id


def ingest(
    objects: Iterable[SourceObject],
    lake: Lake,
    clock: Callable[[], datetime],
    *,
    on_object: Callable[[SourceReport], None] | None = None,
) -> IngestReport:
    with lake_lock(lake):
        return _ingest(objects, lake, clock, on_object)


def _ingest(
    objects: Iterable[SourceObject],
    lake: Lake,
    clock: Callable[[], datetime],
    on_object: Callable[[SourceReport], None] | None,
) -> IngestReport:
    report = IngestReport()
    report.rolled_forward, report.rolled_back = lake.recover()
    known = lake.ingested_keys()
    run = _Run(lake, clock())
    requests = StemTable()  # each distinct OCSP GET string is decoded once per run
    for source in objects:
        if source.key in known:
            report.already_ingested += 1
            continue
        try:
            source_report, rows = read_object(source, clock(), requests, spill=run.absorb)
        except FileNotFoundError:
            # Deleted between listing and reading (opening is the first thing a read does,
            # so no row of it was taken): reported, and left out of the manifest.
            report.sources.append(SourceReport(source.uri, "vanished"))
            continue
        report.sources.append(source_report)
        run.add(source, source_report, rows)
        if on_object is not None:
            on_object(source_report)
    finished = run.finish()
    if finished:
        report.runs.append(finished)
    return report
