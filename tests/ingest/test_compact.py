"""Compaction: same rows, fewer files, never a half-swapped partition."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.compact import compact
from ingest.lake import STAGING, Lake
from ingest.locking import LakeBusyError, exclusive
from ingest.run import ingest
from ingest.sources import find_sources
from tests.conftest import PkiHome
from tests.ingest.test_exactly_once import make_raw


def now() -> datetime:
    return datetime.now(UTC)


def test_many_small_runs_compact_to_one_file_per_partition(
    pki_home: PkiHome, tmp_path: Path
) -> None:
    lake = Lake.at(str(tmp_path / "lake"))
    for index in range(4):
        make_raw(pki_home, tmp_path / f"raw{index}", 3)
        ingest(find_sources([str(tmp_path / f"raw{index}")]), lake, now)
    before = lake.read("ocsp_requests")
    files_before = list((lake.local_path() / "ocsp_requests").rglob("*.parquet"))
    assert len(files_before) == 4 * 3
    done = compact(lake, now())
    ocsp = [d for d in done if d.table == "ocsp_requests"]
    assert sorted(d.partition for d in ocsp) == ["dt=2026-11-01", "dt=2026-11-02", "dt=2026-11-03"]
    assert all(d.files_before == 4 and d.files_after == 1 for d in ocsp)
    after = lake.read("ocsp_requests")
    assert after.num_rows == before.num_rows
    key = ["request_id", "serial", "event_time"]
    assert sorted(map(tuple, after.select(key).to_pylist())) == sorted(
        map(tuple, before.select(key).to_pylist())
    )
    assert len(list((lake.local_path() / "ocsp_requests").rglob("*.parquet"))) == 3
    assert not any((lake.local_path() / STAGING).iterdir())
    assert compact(lake, now()) == []  # nothing left to do
    # Ingest still knows what it read: compaction does not make it read again.
    assert ingest(find_sources([str(tmp_path / "raw0")]), lake, now).sources == []


def test_leftovers_of_a_killed_compaction_are_removed(pki_home: PkiHome, tmp_path: Path) -> None:
    lake = Lake.at(str(tmp_path / "lake"))
    make_raw(pki_home, tmp_path / "raw", 3)
    ingest(find_sources([str(tmp_path / "raw")]), lake, now)
    rows = lake.read("ocsp_requests").num_rows
    orphan = lake.local_path() / STAGING / "20260101T000000000000Z-dead" / "ocsp_requests" / "dt=x"
    orphan.mkdir(parents=True)
    (orphan / "part.parquet").write_bytes(b"old partition parked by a killed compaction")
    compact(lake, now())
    assert not (lake.local_path() / STAGING / "20260101T000000000000Z-dead").exists()
    assert lake.read("ocsp_requests").num_rows == rows


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with exclusive(tmp_path):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(10)
    with pytest.raises(LakeBusyError), exclusive(tmp_path, timeout_s=0.3):
        pass
    release.set()
    thread.join()
    acquired = False
    with exclusive(tmp_path, timeout_s=5):
        acquired = True  # free again once the holder is done
    assert acquired
