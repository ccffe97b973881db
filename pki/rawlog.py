"""Gzip JSON-lines batches under ``raw/<kind>/dt=YYYY-MM-DD/``, shaped like Firehose output.

Requests only append to a list; a background thread writes a batch every
``max_records`` records or ``max_seconds`` seconds. A file is written under a
hidden temporary name and renamed, so a reader (the ingest) never sees a
partial file. ``close()`` writes whatever is pending: nothing is lost on a
clean stop.
"""

from __future__ import annotations

import gzip
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

log = logging.getLogger(__name__)


class LogSink(Protocol):
    def emit(self, record: Mapping[str, Any]) -> None: ...

    def close(self) -> None: ...


_second_prefix: tuple[int, str] = (-1, "")


def event_time(moment: datetime) -> str:
    """UTC, microseconds, ``Z``: the LAKE's timestamp spelling.

    On every request's path, so the date and time up to the second are formatted
    once per second and reused.
    """
    global _second_prefix  # noqa: PLW0603 - a one-entry cache, replaced atomically
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    second = int(moment.timestamp())
    cached = _second_prefix
    if cached[0] != second:
        cached = (second, moment.strftime("%Y-%m-%dT%H:%M:%S"))
        _second_prefix = cached
    return f"{cached[1]}.{moment.microsecond:06d}Z"


@dataclass
class SinkCounts:
    """What a sink did, for metrics (the responders expose these at ``/metrics``)."""

    written: int = 0  # records in complete files
    dropped: int = 0  # records refused because the queue was full
    failed_writes: int = 0  # day files that could not be written (records kept)
    pending: int = 0  # records waiting now


DROP_REPORT_INTERVAL_S = 60.0
# Records a writer keeps while the disk refuses them: five default batches, some 75 MB
# of a worker's memory at worst, about a minute of a busy worker's log.
MAX_PENDING_RECORDS = 50_000


class BatchFileSink:
    """Batches records into day files off the request path.

    The queue waiting for the disk is capped at ``max_pending`` records: when the disk
    stays full (or the folder is gone) for long, the newest records are dropped and
    counted rather than growing the worker until it dies, and a warning says how many
    (at most once a minute). Days are written independently, so a batch whose second day
    fails keeps only that day's records for the next attempt.
    """

    def __init__(
        self,
        folder: Path,
        *,
        max_records: int = 10_000,
        max_seconds: float = 60.0,
        max_pending: int = MAX_PENDING_RECORDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if max_records < 1 or max_seconds <= 0:
            raise ValueError("batches need max_records >= 1 and max_seconds > 0")
        if max_pending < max_records:
            raise ValueError("max_pending must hold at least one batch (max_records)")
        self._folder = folder
        self._max_records = max_records
        self._max_seconds = max_seconds
        self._max_pending = max_pending
        self._clock = clock
        self._pending: list[Mapping[str, Any]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._counts = SinkCounts()
        self._unreported_drops = 0
        self._last_drop_report = -DROP_REPORT_INTERVAL_S
        self._thread = threading.Thread(target=self._run, name=f"log-{folder.name}", daemon=True)
        self._thread.start()

    @property
    def folder(self) -> Path:
        return self._folder

    def counts(self) -> SinkCounts:
        with self._lock:
            return replace(self._counts, pending=len(self._pending))

    def emit(self, record: Mapping[str, Any]) -> None:
        with self._lock:
            if len(self._pending) >= self._max_pending:
                self._counts.dropped += 1
                self._unreported_drops += 1
                report = time.monotonic() - self._last_drop_report >= DROP_REPORT_INTERVAL_S
            else:
                self._pending.append(record)
                report = False
            full = len(self._pending) >= self._max_records
        if report:
            self._report_drops()
        if full:
            self._wake.set()

    def flush(self) -> list[Path]:
        """Write what is pending, one file per event day. A day that fails goes back to
        the queue (a full disk or a vanished folder delays its records rather than losing
        them); the days written are not written again. Raises the first failure's
        OSError after every day has been tried."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return []
        written: list[Path] = []
        failure: OSError | None = None
        for day, records in by_event_day(batch, self._clock()).items():
            try:
                written.append(write_day_file(self._folder, day, records, self._clock()))
            except OSError as exc:
                failure = failure or exc
                self._requeue(records)
            else:
                with self._lock:
                    self._counts.written += len(records)
        if failure is not None:
            raise failure
        return written

    def close(self) -> None:
        self._stopped.set()
        self._wake.set()
        self._thread.join(timeout=30)
        try:
            self.flush()
        except OSError:
            log.exception(
                "could not write %d access-log records under %s; they are lost with this process",
                len(self._pending),
                self._folder,
            )
        self._report_drops()

    def _requeue(self, records: list[Mapping[str, Any]]) -> None:
        """Put a failed day back ahead of newer records, within the cap (newest dropped)."""
        with self._lock:
            self._counts.failed_writes += 1
            merged = records + self._pending
            kept = merged[: self._max_pending]
            dropped = len(merged) - len(kept)
            self._pending = kept
            self._counts.dropped += dropped
            self._unreported_drops += dropped
        if dropped:
            self._report_drops()

    def _report_drops(self) -> None:
        with self._lock:
            count, self._unreported_drops = self._unreported_drops, 0
            if count:
                self._last_drop_report = time.monotonic()
        if count:
            log.warning(
                "dropped %d access-log records for %s: %d are waiting for the disk (the cap); "
                "see the write errors above",
                count,
                self._folder,
                self._max_pending,
            )

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self._max_seconds)
            self._wake.clear()
            if self._stopped.is_set():
                return
            try:
                self.flush()
            except OSError as exc:
                log.error(
                    "could not write an access-log batch under %s (%s); %d records wait, "
                    "retrying in %.0f s",
                    self._folder,
                    exc,
                    self.counts().pending,
                    self._max_seconds,
                )
            self._report_drops()


def by_event_day(
    records: list[Mapping[str, Any]], now: datetime
) -> dict[str, list[Mapping[str, Any]]]:
    """Records by the UTC day of their ``event_time`` (``now``'s day when they have none)."""
    days: dict[str, list[Mapping[str, Any]]] = {}
    today = now.strftime("%Y-%m-%d")
    for record in records:
        day = str(record.get("event_time", ""))[:10] or today
        days.setdefault(day, []).append(record)
    return days


def write_day_file(folder: Path, day: str, records: list[Mapping[str, Any]], now: datetime) -> Path:
    """One complete gzip JSON-lines file under ``dt=DAY``, or nothing: it is written under
    a hidden temporary name (which the ingest skips), renamed when complete, and the
    temporary file is removed when anything fails (a full disk leaves no partial file)."""
    target = folder / f"dt={day}"
    target.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%S%f")  # names sort in time order
    name = f"{stamp}-{os.getpid()}-{uuid.uuid4().hex[:12]}.jsonl.gz"
    temporary = target / f".{name}.tmp"
    try:
        with gzip.open(temporary, "wb", compresslevel=1) as handle:
            handle.write(b"\n".join(orjson.dumps(record) for record in records) + b"\n")
        os.replace(temporary, target / name)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target / name


def write_batch_files(folder: Path, records: list[Mapping[str, Any]], now: datetime) -> list[Path]:
    """Write records as complete gzip JSON-lines files, one per event day, atomically."""
    return [
        write_day_file(folder, day, day_records, now)
        for day, day_records in by_event_day(records, now).items()
    ]


class ListSink:
    """Keeps records in memory: for tests and for callers that forward them elsewhere."""

    def __init__(self) -> None:
        self.records: list[Mapping[str, Any]] = []

    def emit(self, record: Mapping[str, Any]) -> None:
        self.records.append(record)

    def close(self) -> None:
        pass
