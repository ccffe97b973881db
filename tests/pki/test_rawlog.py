"""The batch writer: complete files, partitions by event day, nothing lost."""

from __future__ import annotations

import gzip
import json
import re
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


# A child with a file-size limit: the kernel refuses to grow any file past it (EFBIG),
# which is what a full disk looks like to the writer. SIGXFSZ is ignored so the write
# fails with an error instead of killing the child.
_FULL_DISK = r"""
import json, os, random, resource, signal, sys
from pathlib import Path
from pki.rawlog import BatchFileSink

folder = Path(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
sink = BatchFileSink(folder, max_records=%(cap)d, max_seconds=3600, max_pending=%(cap)d)
noise = random.Random(1)

def record(day, n, size):
    # random text: gzip cannot shrink it below the limit
    blob = "".join(noise.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(size))
    return {"event_time": f"{day}T12:00:00.000000Z", "n": n, "blob": blob}

resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))
records = [record("2026-01-01", n, 100) for n in range(3)]  # a small first day
records += [record("2026-01-02", n, 2000) for n in range(3, %(big)d)]  # past the limit
for item in records:
    sink.emit(item)
try:
    sink.flush()
except OSError as exc:
    print("failed:", exc.errno, file=sys.stderr)
left = sorted(p.name for p in folder.rglob("*") if p.is_file())
counts = sink.counts()
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # the disk has room again
sink.close()
final = sink.counts()
print(json.dumps({"after_failure": left, "pending": counts.pending, "dropped": final.dropped,
                  "failed_writes": counts.failed_writes, "written": final.written}))
"""


def _full_disk(folder: Path, *, cap: int, big: int) -> dict[str, object]:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _FULL_DISK % {"cap": cap, "big": big}, str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "failed: 27" in done.stderr or "File too large" in done.stderr  # EFBIG
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "stderr": done.stderr}


def test_a_full_disk_on_the_second_day_neither_repeats_the_first_nor_leaves_partials(
    tmp_path: Path,
) -> None:
    outcome = _full_disk(tmp_path, cap=1_000_000, big=200)
    files = outcome["after_failure"]
    assert isinstance(files, list) and len(files) == 1 and not files[0].startswith(".")
    assert outcome["pending"] == 197 and outcome["dropped"] == 0
    assert outcome["failed_writes"] == 1
    assert not list(tmp_path.rglob("*.tmp"))
    rows = read_all(tmp_path)
    assert sorted(int(str(r["n"])) for r in rows) == list(range(200))  # each exactly once


def test_the_queue_waiting_for_the_disk_is_capped_and_drops_are_counted(
    tmp_path: Path,
) -> None:
    outcome = _full_disk(tmp_path, cap=150, big=200)
    dropped, written = outcome["dropped"], outcome["written"]
    assert isinstance(dropped, int) and isinstance(written, int)
    # At most 150 wait for the disk (batches small enough for the limit still land).
    assert dropped > 0 and dropped + written == 200
    reported = re.findall(r"dropped (\d+) access-log records", str(outcome["stderr"]))
    assert sum(map(int, reported)) == dropped  # the log says, at most once a minute and at exit
    rows = read_all(tmp_path)
    assert len(rows) == written and len({r["n"] for r in rows}) == written
