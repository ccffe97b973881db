"""Run manifests folded into the manifest index: every ingest reads one index and a few
manifests, and a fold killed at any moment loses and doubles no run."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

import ingest.manifests as manifests_module
from ingest.lake import MANIFEST, Lake, RunManifest, new_run_id
from ingest.locking import LeaseLostError
from ingest.run import ingest
from ingest.sources import find_sources
from ingest.storage import StorageError
from tests.conftest import PkiHome
from tests.ingest.test_exactly_once import make_raw, staged_run
from tests.ingest.test_s3 import bucket, upload

__all__ = ["bucket"]  # the fixture, shared with test_s3


def now() -> datetime:
    return datetime.now(UTC)


def json_manifests(lake: Lake) -> list[Path]:
    return sorted((lake.local_path() / MANIFEST).glob("*.json"))


def indexes(lake: Lake) -> list[Path]:
    return sorted((lake.local_path() / MANIFEST).glob("index-*.parquet"))


def no_row_twice(lake: Lake) -> int:
    """The OCSP rows, after checking that no object's request is there twice."""
    table = lake.read("ocsp_requests")
    rows = Counter(
        zip(
            table.column("source_object").to_pylist(),
            table.column("request_id").to_pylist(),
            table.column("serial").to_pylist(),
            strict=True,
        )
    )
    assert not rows or max(rows.values()) == 1
    return int(table.num_rows)


@pytest.fixture
def fold_at_4(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifests_module, "COMPACT_AT", 4)


def test_runs_are_folded_into_an_index_and_nothing_is_read_twice(
    pki_home: PkiHome, tmp_path: Path, fold_at_4: None
) -> None:
    lake = Lake.at(str(tmp_path / "lake"))
    raw = tmp_path / "raw"
    expected = 0
    folded = []
    for index in range(6):
        expected += make_raw(pki_home, tmp_path / f"made{index}", 1)
        made = tmp_path / f"made{index}" / "dt=2026-11-01" / "batch-00000.jsonl.gz"
        raw.mkdir(exist_ok=True)
        made.rename(raw / f"{index:03d}.jsonl.gz")
        report = ingest(find_sources([str(raw)]), lake, now)
        assert len(report.sources) == 1 and report.already_ingested == index
        folded.append(report.manifests_folded)
    assert folded == [0, 0, 0, 4, 0, 0]  # the fourth manifest made four
    assert len(indexes(lake)) == 1 and len(json_manifests(lake)) == 2
    runs = lake.manifests()
    assert len(runs) == 6 and len({r.run_id for r in runs}) == 6
    assert [r.run_id for r in runs] == sorted(r.run_id for r in runs)
    assert sum(len(r.sources) for r in runs) == 6 and all(r.files for r in runs)
    again = ingest(find_sources([str(raw)]), lake, now)
    assert again.sources == [] and again.already_ingested == 6
    assert no_row_twice(lake) == expected


def test_a_fold_killed_after_writing_the_index_changes_nothing(
    pki_home: PkiHome, tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    expected = make_raw(pki_home, raw, 4)
    lake = Lake.at(str(tmp_path / "lake"))
    for source in find_sources([str(raw)]):  # four runs, four manifests
        ingest([source], lake, now)
    assert lake.compact_manifests(at_least=1) == 4
    more = make_raw(pki_home, tmp_path / "more", 1)
    (tmp_path / "more" / "dt=2026-11-01" / "batch-00000.jsonl.gz").rename(raw / "late.jsonl.gz")
    ingest(find_sources([str(raw)]), lake, now)
    before = lake.manifests()
    aside = tmp_path / "aside"
    shutil.copytree(lake.local_path() / MANIFEST, aside)  # the first index, one manifest
    assert lake.compact_manifests(at_least=1) == 1
    assert len(json_manifests(lake)) == 0 and len(indexes(lake)) == 1
    # As a kill -9 leaves it between writing the index and the deletes: the new index,
    # the manifest it took in, and the generation before it.
    for path in aside.iterdir():
        shutil.copy(path, lake.local_path() / MANIFEST / path.name)
    assert len(json_manifests(lake)) == 1 and len(indexes(lake)) == 2
    assert lake.manifests() == before
    again = ingest(find_sources([str(raw)]), lake, now)
    assert again.sources == [] and again.already_ingested == 5
    assert no_row_twice(lake) == expected + more
    # The next fold only tidies: the runs were in the index already.
    assert lake.compact_manifests(at_least=1) == 0
    assert json_manifests(lake) == [] and len(indexes(lake)) == 1
    assert lake.manifests() == before


def test_a_committed_run_not_yet_published_stays_out_of_the_index(
    pki_home: PkiHome, tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    expected = make_raw(pki_home, raw, 3)
    lake = Lake.at(str(tmp_path / "lake"))
    run = staged_run(lake, raw)
    lake.commit(run.manifest)  # ... and died before publishing
    assert lake.compact_manifests(at_least=1) == 0
    assert [p.stem for p in json_manifests(lake)] == [run.manifest.run_id]
    outcome = ingest(find_sources([str(raw)]), lake, now)
    assert outcome.rolled_forward == 1 and outcome.sources == []
    assert lake.compact_manifests(at_least=1) == 1
    assert lake.read("ocsp_requests").num_rows == expected


def synthetic_runs(lake: Lake, count: int, start: datetime, first: int) -> set[str]:
    """``count`` committed runs of one made-up source each; returns their keys."""
    keys = set()
    for index in range(first, first + count):
        key = f"/raw/{index:06d}.jsonl.gz|100|{index}"
        run_id = new_run_id(start + timedelta(seconds=index))
        lake.commit(
            RunManifest(run_id, start.isoformat(), [{"key": key, "uri": key.partition("|")[0]}], [])
        )
        keys.add(key)
    return keys


def test_kill_9_during_folds_loses_and_doubles_no_run(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    lake = Lake.at(str(lake_dir))
    start = datetime(2026, 11, 1, tzinfo=UTC)
    fold = [
        sys.executable,
        "-c",
        "import sys\n"
        "from ingest.lake import Lake\n"
        "from ingest.locking import lake_lock\n"
        "lake = Lake.at(sys.argv[1])\n"
        "with lake_lock(lake):\n"
        "    lake.compact_manifests(at_least=1)\n",
        str(lake_dir),
    ]
    # How long a whole fold of 600 manifests takes here, so that the kills land inside.
    scratch = Lake.at(str(tmp_path / "scratch"))
    synthetic_runs(scratch, 600, start, 0)
    started = time.monotonic()
    subprocess.run([*fold[:-1], str(tmp_path / "scratch")], check=True, timeout=300)
    duration = time.monotonic() - started

    rng = random.Random(9)
    keys: set[str] = set()
    kills = 0
    for round_ in range(6):
        keys |= synthetic_runs(lake, 600, start, round_ * 600)
        process = subprocess.Popen(fold, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, duration))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            kills += 1
        process.wait()
        runs = lake.manifests()
        assert len(runs) == len(keys) and len({r.run_id for r in runs}) == len(keys)
        assert lake.ingested(keys) == keys
    assert kills >= 1, "no fold was interrupted; the test proves nothing"
    subprocess.run(fold, check=True, timeout=300)
    assert json_manifests(lake) == [] and len(indexes(lake)) == 1
    assert {s["key"] for r in lake.manifests() for s in r.sources} == keys
    assert lake.ingested([*keys, "/raw/new|1|1"]) == keys


def test_unreadable_manifests_and_indexes_stop_the_ingest_with_their_name(
    tmp_path: Path,
) -> None:
    lake = Lake.at(str(tmp_path / "lake"))
    keys = synthetic_runs(lake, 3, datetime(2026, 11, 1, tzinfo=UTC), 0)
    broken = json_manifests(lake)[1]
    broken.write_bytes(b'{"run_id": "cut sh')
    with pytest.raises(StorageError, match=broken.name):
        lake.ingested(keys)
    broken.unlink()
    assert lake.compact_manifests(at_least=1) == 2
    [index] = indexes(lake)
    index.write_bytes(index.read_bytes()[:40])
    with pytest.raises(StorageError, match="the manifest index cannot be read"):
        lake.ingested(keys)


def test_manifests_are_folded_on_s3(
    pki_home: PkiHome, tmp_path: Path, bucket: str, fold_at_4: None
) -> None:
    expected = make_raw(pki_home, tmp_path / "raw", 5)
    upload(tmp_path / "raw", bucket, "raw")
    lake = Lake.at(f"s3://{bucket}/lake")
    sources = find_sources([f"s3://{bucket}/raw"])
    reports = [ingest([source], lake, now) for source in sources]
    assert [r.manifests_folded for r in reports] == [0, 0, 0, 4, 0]
    listed = boto3.session.Session().client("s3").list_objects_v2(Bucket=bucket, Prefix="lake/")
    names = sorted(o["Key"].removeprefix(f"lake/{MANIFEST}/") for o in listed["Contents"])
    assert sum(n.startswith("index-") for n in names) == 1
    assert sum(n.endswith(".json") for n in names) == 1
    again = ingest(find_sources([f"s3://{bucket}/raw"]), lake, now)
    assert again.sources == [] and again.already_ingested == 5
    assert lake.read("ocsp_requests").num_rows == expected
    assert len(lake.manifests()) == 5


def test_a_fold_by_a_writer_that_lost_the_lake_writes_and_deletes_nothing(
    tmp_path: Path,
) -> None:
    lake = Lake.at(str(tmp_path / "lake"))
    synthetic_runs(lake, 5, datetime(2026, 11, 1, tzinfo=UTC), 0)

    def taken_over() -> None:
        raise LeaseLostError("the LAKE lock was taken over by another ingest")

    with pytest.raises(LeaseLostError):
        lake.compact_manifests(at_least=1, confirm=taken_over)
    assert len(json_manifests(lake)) == 5 and indexes(lake) == []
