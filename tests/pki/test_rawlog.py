"""The batch writer: complete files, partitions by event day, nothing lost."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pki.rawlog import BatchFileSink, event_time


def read_all(folder: Path) -> list[dict[str, object]]:
    out = []
    for path in sorted(folder.glob("dt=*/*.jsonl.gz")):
        with gzip.open(path, "rt") as handle:
            out += [json.loads(line) for line in handle if line.strip()]
    return out


def test_event_time_is_utc_with_microseconds() -> None:
    from datetime import timedelta, timezone

    assert event_time(datetime(2026, 3, 4, 5, 6, 7, 89, tzinfo=UTC)) == (
        "2026-03-04T05:06:07.000089Z"
    )
    assert event_time(datetime(2026, 3, 4, 1, 0, 0, tzinfo=timezone(timedelta(hours=2)))) == (
        "2026-03-03T23:00:00.000000Z"
    )


def test_batches_split_by_day_and_flush_on_close(tmp_path: Path) -> None:
    sink = BatchFileSink(tmp_path, max_records=1000, max_seconds=3600)
    for day in ("2026-01-01", "2026-01-02"):
        for index in range(3):
            sink.emit({"event_time": f"{day}T23:59:59.000000Z", "n": index})
    assert not list(tmp_path.rglob("*.gz"))
    sink.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dt=2026-01-01", "dt=2026-01-02"]
    assert len(read_all(tmp_path)) == 6
    assert not list(tmp_path.rglob("*.tmp"))


def test_full_batches_are_written_without_waiting(tmp_path: Path) -> None:
    sink = BatchFileSink(tmp_path, max_records=5, max_seconds=3600)
    for index in range(5):
        sink.emit({"event_time": "2026-01-01T00:00:00.000000Z", "n": index})
    for _ in range(100):
        if read_all(tmp_path):
            break
        import time

        time.sleep(0.05)
    assert [r["n"] for r in read_all(tmp_path)] == [0, 1, 2, 3, 4]
    sink.close()


def test_a_failed_write_keeps_the_records(tmp_path: Path) -> None:
    """A file where the day folder should go makes the write fail; records wait."""
    sink = BatchFileSink(tmp_path, max_records=1000, max_seconds=3600)
    sink.emit({"event_time": "2026-01-01T00:00:00.000000Z", "n": 1})
    blocker = tmp_path / "dt=2026-01-01"
    blocker.write_text("not a folder")
    with pytest.raises(OSError):
        sink.flush()
    blocker.unlink()
    sink.emit({"event_time": "2026-01-01T00:00:01.000000Z", "n": 2})
    sink.close()
    assert [r["n"] for r in read_all(tmp_path)] == [1, 2]
