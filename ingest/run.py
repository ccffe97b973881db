"""One ingest: read the RAW objects not yet in the LAKE, write their rows, commit.

Rows of many objects are batched into one run (files of sensible size rather than
one per object). Rows are staged to Parquet every ``MAX_BUFFERED_ROWS`` rows, also
in the middle of a large object, so memory stays bounded however much RAW is
waiting; the run is committed once, at the end.

A run may read a thousand small objects (hourly logs), so nothing costly is done per
object: small CloudFront logs are turned into rows several at a time, and CDN rows
gain the responder's fields once per stage rather than once per object
(ingest/origin_join.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

from ingest.formats.certificates import fingerprint, read_certificates
from ingest.formats.cloudfront import (
    SMALL_OBJECT,
    StemTable,
    read_cloudfront,
    read_cloudfront_together,
)
from ingest.formats.responder_logs import read_json_lines
from ingest.lake import Lake, RunManifest, new_run_id
from ingest.locking import Hold, LakeBusyError, lake_lock
from ingest.origin_join import OriginIndex
from ingest.reader import Opened, TruncatedObjectError, lines, read_all, sniff
from ingest.rows import ObjectRows
from ingest.schema import TABLES
from ingest.sources import SourceObject
from ingest.storage import StorageError

MAX_BUFFERED_ROWS = 200_000
log = logging.getLogger(__name__)


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
    manifests_folded: int = 0  # runs moved from their manifest into the manifest index


def read_object(
    source: SourceObject,
    now: datetime,
    requests: StemTable | None = None,
    spill: Callable[[dict[str, list[pa.Table]]], None] | None = None,
    opened: Opened | None = None,
) -> tuple[SourceReport, ObjectRows]:
    opened = sniff(source.uri) if opened is None else opened
    out = ObjectRows(source.uri, spill=spill)
    if opened.format in ("json-lines", "cloudfront", "pem", "der"):
        try:
            if opened.format == "json-lines":
                read_json_lines(lines(source.uri, opened.compressed), out, now)
            elif opened.format == "cloudfront":
                cache = StemTable() if requests is None else requests
                read_cloudfront(source.uri, opened.compressed, out, now, cache, size=source.size)
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
    return _report(source, opened, out), out


def _report(source: SourceObject, opened: Opened, out: ObjectRows) -> SourceReport:
    return SourceReport(
        source.uri,
        opened.format,
        records_read=out.records_read,
        records_written=out.records_written,
        quarantined=out.quarantine_count,
        rows=out.row_counts(),
    )


# Small CloudFront logs are read together (ingest/formats/cloudfront/), up to this
# many bytes as stored (some 50,000 lines): enough to make the per-object cost vanish,
# little next to the rows a run buffers before staging.
TOGETHER_BYTES = 2 << 20


def _read_small_cloudfront(
    objects: list[tuple[SourceObject, Opened]],
    clock: Callable[[], datetime],
    requests: StemTable,
    spill: Callable[[dict[str, list[pa.Table]]], None] | None = None,
) -> Iterator[tuple[SourceObject, tuple[SourceReport, ObjectRows] | None]]:
    """Each object with what :func:`read_object` makes of it (None: it vanished), in
    order: those that can be read together are, the others alone."""
    if not objects:
        return
    outs = [ObjectRows(source.uri) for source, _ in objects]
    try:
        read = read_cloudfront_together(
            [(s.uri, o.compressed, out) for (s, o), out in zip(objects, outs, strict=True)],
            clock(),
            requests,
        )
    except FileNotFoundError:
        read = [False] * len(objects)
    for (source, opened), out, done in zip(objects, outs, read, strict=True):
        if done:
            yield source, (_report(source, opened, out), out)
            continue
        try:
            yield source, read_object(source, clock(), requests, spill, opened)
        except FileNotFoundError:
            yield source, None


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
        self.origin = OriginIndex(lake)
        # CDN parts waiting in ``tables["ocsp_requests"]`` for the origin's fields:
        # (their place in that list, the part, responder rows read before it).
        self._cdn: list[tuple[int, pa.Table, int]] = []

    def absorb(self, tables: dict[str, list[pa.Table]]) -> None:
        for table, parts in tables.items():
            waiting = self.tables.setdefault(table, [])
            for part in parts:
                if table == "ocsp_requests" and part.num_rows:
                    self._route(len(waiting), part)
                waiting.append(part)
                self.buffered += part.num_rows
        if self.buffered >= MAX_BUFFERED_ROWS:
            self.stage()

    def _route(self, place: int, part: pa.Table) -> None:
        """CDN rows gain the responder's view of the same request (ingest/origin_join.py)
        when they are staged, all at once; responder rows are remembered for the CDN
        rows after them."""
        if part.column("source")[0].as_py() == "cloudfront":
            self._cdn.append((place, part, self.origin.seen))
        else:
            self.origin.remember(part)

    def _join_cdn(self) -> None:
        """The waiting CDN parts, joined in one go: once per stage, not once per object."""
        if not self._cdn:
            return
        joined = self.origin.join([(part, seen) for _, part, seen in self._cdn])
        waiting = self.tables["ocsp_requests"]
        for (place, _, _), part in zip(self._cdn, joined, strict=True):
            waiting[place] = part
        self._cdn = []

    def stage(self) -> None:
        self._join_cdn()
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

    def finish(self, confirm: Callable[[], None] = lambda: None) -> str | None:
        """Commit and publish; ``confirm`` raises if this process no longer owns the LAKE
        (an S3 lease taken over), and then nothing is committed."""
        try:
            if not self.manifest.sources:
                return None
            self.flush()
        finally:
            self._writer.shutdown()
        confirm()
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
    with lake_lock(lake) as hold:
        return _ingest(objects, lake, clock, on_object, hold)


def _ingest(
    objects: Iterable[SourceObject],
    lake: Lake,
    clock: Callable[[], datetime],
    on_object: Callable[[SourceReport], None] | None,
    hold: Hold,
) -> IngestReport:
    report = IngestReport()
    report.rolled_forward, report.rolled_back = lake.recover()
    objects = list(objects)
    known = lake.ingested([key for source in objects for key in source.lookup_keys])
    run = _Run(lake, clock())
    requests = StemTable()  # each distinct OCSP GET string is decoded once per run
    small_cdn: list[tuple[SourceObject, Opened]] = []  # waiting to be read together

    def done(source: SourceObject, result: tuple[SourceReport, ObjectRows] | None) -> None:
        if result is None:
            # Deleted between listing and reading (opening is the first thing a read does,
            # so no row of it was taken): reported, and left out of the manifest.
            report.sources.append(SourceReport(source.uri, "vanished"))
            return
        source_report, rows = result
        report.sources.append(source_report)
        run.add(source, source_report, rows)
        if on_object is not None:
            on_object(source_report)

    def read_small_cdn() -> None:
        for source, result in _read_small_cloudfront(small_cdn, clock, requests, run.absorb):
            done(source, result)
        small_cdn.clear()

    for source in objects:
        if any(key in known for key in source.lookup_keys):
            report.already_ingested += 1
            continue
        try:
            opened = sniff(source.uri)
        except FileNotFoundError:
            read_small_cdn()
            done(source, None)
            continue
        if opened.format == "cloudfront" and source.size < SMALL_OBJECT:
            small_cdn.append((source, opened))
            if sum(s.size for s, _ in small_cdn) >= TOGETHER_BYTES:
                read_small_cdn()
            continue
        read_small_cdn()  # objects are handed on in the order they were listed
        try:
            done(source, read_object(source, clock(), requests, run.absorb, opened))
        except FileNotFoundError:
            done(source, None)
    read_small_cdn()
    finished = run.finish(hold.confirm)
    if finished:
        report.runs.append(finished)
        report.manifests_folded = _fold_manifests(lake, hold)
    return report


def _fold_manifests(lake: Lake, hold: Hold) -> int:
    """Fold manifests into the index once enough have piled up (ingest/manifests.py).
    The run is committed and published by now: a fold that fails leaves every run
    recorded, and the next ingest folds again, so it is reported, not raised."""
    try:
        return lake.compact_manifests(confirm=hold.confirm)
    except (StorageError, OSError, LakeBusyError) as exc:
        log.warning("manifest compaction failed, the next ingest tries again: %s", exc)
        return 0
