"""Exactly once: re-runs add nothing, and a run killed at any moment loses and doubles nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ingest.lake import Lake
from ingest.run import _Run, ingest, read_object
from ingest.sources import find_sources
from tests.conftest import PkiHome
from tests.ingest.conftest import as_lines, responder_records, write_jsonl


def now() -> datetime:
    return datetime.now(UTC)


def make_raw(home: PkiHome, root: Path, objects: int) -> int:
    """``objects`` gzip files of real records with distinct request ids; returns OCSP rows."""
    base = responder_records(home)
    ocsp_rows = 0
    for index in range(objects):
        records = []
        for offset, record in enumerate(base):
            copy = dict(record)
            copy["request_id"] = f"r{index:05d}-{offset}"
            copy["event_time"] = f"2026-11-{1 + index % 3:02d}T10:00:{offset:02d}.000000Z"
            records.append(copy)
            if copy["log"] == "ocsp":
                ocsp_rows += max(1, len(copy["cert_ids"]))
        write_jsonl(
            root / f"dt=2026-11-0{1 + index % 3}" / f"batch-{index:05d}.jsonl.gz", as_lines(records)
        )
    return ocsp_rows


def staged_run(lake: Lake, raw: Path | str) -> _Run:
    """What a run has done just before its commit: every file staged, no manifest yet."""
    run = _Run(lake, now())
    for source in find_sources([str(raw)]):
        source_report, rows = read_object(source, now())
        run.add(source, source_report, rows)
    run.flush()
    return run


def test_second_run_adds_nothing_and_new_objects_are_picked_up(
    pki_home: PkiHome, tmp_path: Path
) -> None:
    raw, lake = tmp_path / "raw", Lake.at(str(tmp_path / "lake"))
    expected = make_raw(pki_home, raw, 6)
    first = ingest(find_sources([str(raw)]), lake, now)
    assert len(first.sources) == 6 and len(first.runs) == 1
    assert lake.read("ocsp_requests").num_rows == expected
    again = ingest(find_sources([str(raw)]), lake, now)
    assert again.sources == [] and again.already_ingested == 6 and again.runs == []
    assert lake.read("ocsp_requests").num_rows == expected
    more = make_raw(pki_home, tmp_path / "raw2", 1)
    (tmp_path / "raw2" / "dt=2026-11-01" / "batch-00000.jsonl.gz").rename(
        raw / "dt=2026-11-01" / "late.jsonl.gz"
    )
    late = ingest(find_sources([str(raw)]), lake, now)
    assert len(late.sources) == 1 and late.already_ingested == 6
    assert lake.read("ocsp_requests").num_rows == expected + more


def test_files_are_partitioned_sorted_and_zstd(pki_home: PkiHome, tmp_path: Path) -> None:
    raw, lake = tmp_path / "raw", Lake.at(str(tmp_path / "lake"))
    make_raw(pki_home, raw, 6)
    ingest(find_sources([str(raw)]), lake, now)
    files = sorted((lake.local_path() / "ocsp_requests").rglob("*.parquet"))
    assert [f.parent.name for f in files] == ["dt=2026-11-01", "dt=2026-11-02", "dt=2026-11-03"]
    for file in files:
        table = pq.read_table(file)
        times = table.column("event_time").to_pylist()
        assert times == sorted(times)
        assert {t.strftime("%Y-%m-%d") for t in times} == {file.parent.name[3:]}
        metadata = pq.ParquetFile(file).metadata
        assert metadata.row_group(0).column(0).compression == "ZSTD"
    for run in lake.manifests():
        for source in run.sources:
            assert source["records_read"] == source["records_written"] + source["quarantined"]


def test_uncommitted_run_is_discarded_and_read_again(pki_home: PkiHome, tmp_path: Path) -> None:
    raw, lake = tmp_path / "raw", Lake.at(str(tmp_path / "lake"))
    expected = make_raw(pki_home, raw, 3)
    staged_run(lake, raw)  # died after staging, before its manifest
    assert lake.read("ocsp_requests").num_rows == 0  # nothing visible yet
    outcome = ingest(find_sources([str(raw)]), lake, now)
    assert outcome.rolled_back == 1 and len(outcome.sources) == 3
    assert lake.read("ocsp_requests").num_rows == expected
    assert not (lake.local_path() / "_staging").exists() or not any(
        (lake.local_path() / "_staging").iterdir()
    )


def test_committed_run_is_rolled_forward(pki_home: PkiHome, tmp_path: Path) -> None:
    raw, lake = tmp_path / "raw", Lake.at(str(tmp_path / "lake"))
    expected = make_raw(pki_home, raw, 3)
    run = staged_run(lake, raw)
    lake.commit(run.manifest)  # ... and died before publishing
    outcome = ingest(find_sources([str(raw)]), lake, now)
    assert outcome.rolled_forward == 1 and outcome.sources == []
    assert outcome.already_ingested == 3
    assert lake.read("ocsp_requests").num_rows == expected


def test_kill_9_at_any_moment_loses_and_doubles_nothing(pki_home: PkiHome, tmp_path: Path) -> None:
    raw, lake_dir = tmp_path / "raw", tmp_path / "lake"

    def command(lake: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "certsight.cli",
            "ingest",
            str(raw),
            "--lake",
            str(lake),
            "--home",
            str(tmp_path / "home"),
        ]

    # How long one run takes here, so that the kills land inside runs.
    make_raw(pki_home, raw, 60)
    started = time.monotonic()
    subprocess.run(command(tmp_path / "scratch"), capture_output=True, timeout=300, check=True)
    duration = time.monotonic() - started

    rng = random.Random(7)
    kills = 0
    for _ in range(6):
        process = subprocess.Popen(
            command(lake_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.05, duration))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            kills += 1
        process.wait()
    done = subprocess.run(
        command(lake_dir), capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert kills >= 1, "no run was interrupted; the test proves nothing"
    expected = Lake.at(str(tmp_path / "scratch")).read("ocsp_requests").num_rows
    table = Lake.at(str(lake_dir)).read("ocsp_requests")
    assert table.num_rows == expected
    keys = Counter(
        zip(table.column("request_id").to_pylist(), table.column("serial").to_pylist(), strict=True)
    )
    assert max(keys.values()) == 1
    ingested = {s["uri"] for run in Lake.at(str(lake_dir)).manifests() for s in run.sources}
    assert len(ingested) == 60


def test_large_objects_are_staged_in_pieces(
    pki_home: PkiHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingest.run as run_module

    monkeypatch.setattr(run_module, "MAX_BUFFERED_ROWS", 7)
    raw, lake = tmp_path / "raw", Lake.at(str(tmp_path / "lake"))
    expected = make_raw(pki_home, raw, 4)
    report = ingest(find_sources([str(raw)]), lake, now)
    assert len(report.runs) == 1
    [manifest] = lake.manifests()
    assert len(manifest.files) > 4  # staged in several pieces, committed once
    assert lake.read("ocsp_requests").num_rows == expected
    assert sum(s.rows.get("ocsp_requests", 0) for s in report.sources) == expected


def test_an_object_deleted_after_listing_is_reported_not_fatal(
    pki_home: PkiHome, tmp_path: Path
) -> None:
    raw, lake = tmp_path / "raw", Lake.at(str(tmp_path / "lake"))
    expected_all = make_raw(pki_home, raw, 3)
    sources = find_sources([str(raw)])
    Path(sources[0].uri).unlink()
    report = ingest(sources, lake, now)
    assert [s.format for s in report.sources].count("vanished") == 1
    assert 0 < lake.read("ocsp_requests").num_rows < expected_all
    assert len(lake.manifests()[0].sources) == 2
