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
import uuid
from collections.abc import Callable, Mapping
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


class BatchFileSink:
    def __init__(
        self,
        folder: Path,
        *,
        max_records: int = 10_000,
        max_seconds: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if max_records < 1 or max_seconds <= 0:
            raise ValueError("batches need max_records >= 1 and max_seconds > 0")
        self._folder = folder
        self._max_records = max_records
        self._max_seconds = max_seconds
        self._clock = clock
        self._pending: list[Mapping[str, Any]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"log-{folder.name}", daemon=True)
        self._thread.start()

    def emit(self, record: Mapping[str, Any]) -> None:
        with self._lock:
            self._pending.append(record)
            full = len(self._pending) >= self._max_records
        if full:
            self._wake.set()

    def flush(self) -> list[Path]:
        """Write what is pending; on failure the records go back to the queue, so a full
        disk or a vanished folder delays the log rather than losing it."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return []
        try:
            return self._write(batch)
        except OSError:
            with self._lock:
                self._pending[:0] = batch
            raise

    def close(self) -> None:
        self._stopped.set()
        self._wake.set()
        self._thread.join(timeout=30)
        try:
            self.flush()
        except OSError:
            log.exception(
                "could not write %d access-log records under %s", len(self._pending), self._folder
            )

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self._max_seconds)
            self._wake.clear()
            if self._stopped.is_set():
                return
            try:
                self.flush()
            except OSError:
                log.exception("could not write access-log batch under %s; will retry", self._folder)

    def _write(self, batch: list[Mapping[str, Any]]) -> list[Path]:
        return write_batch_files(self._folder, batch, self._clock())


def write_batch_files(folder: Path, records: list[Mapping[str, Any]], now: datetime) -> list[Path]:
    """Write records as complete gzip JSON-lines files, one per event day, atomically."""
    by_day: dict[str, list[bytes]] = {}
    for record in records:
        day = str(record.get("event_time", ""))[:10] or now.strftime("%Y-%m-%d")
        by_day.setdefault(day, []).append(orjson.dumps(record))
    written = []
    stamp = now.strftime("%Y%m%dT%H%M%S%f")  # names sort in time order
    for day, lines in by_day.items():
        target = folder / f"dt={day}"
        target.mkdir(parents=True, exist_ok=True)
        name = f"{stamp}-{os.getpid()}-{uuid.uuid4().hex[:12]}.jsonl.gz"
        temporary = target / f".{name}.tmp"
        with gzip.open(temporary, "wb", compresslevel=1) as handle:
            handle.write(b"\n".join(lines) + b"\n")
        os.replace(temporary, target / name)
        written.append(target / name)
    return written


class ListSink:
    """Keeps records in memory: for tests and for callers that forward them elsewhere."""

    def __init__(self) -> None:
        self.records: list[Mapping[str, Any]] = []

    def emit(self, record: Mapping[str, Any]) -> None:
        self.records.append(record)

    def close(self) -> None:
        pass
