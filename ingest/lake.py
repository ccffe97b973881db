"""The LAKE on a local file system: Parquet files, Hive partitions, an ingest manifest.

Exactly once, and nothing half-visible, through a small commit protocol:

1. every file of a run is written under ``_staging/<run>/`` (temporary name, then
   rename, so even staging holds only complete files);
2. the run's manifest ``_manifest/<run>.json`` (sources and files) is written the
   same way: this is the commit point;
3. the files are renamed from staging into ``<table>/dt=YYYY-MM-DD/``.

A run killed before step 2 leaves staging that the next run deletes (its sources
are not in any manifest, so they are read again). A run killed after step 2 is
rolled forward by the next run, which finishes the renames. Readers of the table
folders therefore never see a file twice or a file of an uncommitted run.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ingest.schema import TABLES, Table

MANIFEST = "_manifest"
STAGING = "_staging"
ROWS_PER_FILE = 1_000_000


@dataclass
class RunManifest:
    run_id: str
    started_at: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # relative to the lake root

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "run_id": self.run_id,
                "started_at": self.started_at,
                "sources": self.sources,
                "files": self.files,
            },
            indent=1,
        ).encode()


def new_run_id(now: datetime) -> str:
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}"


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class LocalLake:
    def __init__(self, root: Path) -> None:
        self.root = root

    # -- state ------------------------------------------------------------------
    def manifests(self) -> list[RunManifest]:
        folder = self.root / MANIFEST
        if not folder.is_dir():
            return []
        runs = []
        for path in sorted(folder.glob("*.json")):
            data = json.loads(path.read_bytes())
            runs.append(
                RunManifest(data["run_id"], data["started_at"], data["sources"], data["files"])
            )
        return runs

    def ingested_keys(self) -> set[str]:
        return {source["key"] for run in self.manifests() for source in run.sources}

    def recover(self) -> tuple[int, int]:
        """Roll committed runs forward and uncommitted ones back; returns (forward, back)."""
        staging = self.root / STAGING
        if not staging.is_dir():
            return 0, 0
        committed = {run.run_id: run for run in self.manifests()}
        forward = back = 0
        for run_dir in sorted(p for p in staging.iterdir() if p.is_dir()):
            run = committed.get(run_dir.name)
            if run is None:
                shutil.rmtree(run_dir)
                back += 1
            else:
                self._publish(run)
                forward += 1
        return forward, back

    # -- writing ----------------------------------------------------------------
    def stage(self, run_id: str, table: Table, rows: list[dict[str, Any]]) -> list[str]:
        """Write rows as Parquet under staging, one or more files per dt partition;
        returns the files' final paths relative to the lake root."""
        if not rows:
            return []
        data = pa.Table.from_pylist(rows, schema=table.schema)
        times = data.column(table.time_column)
        days = pc.strftime(times, format="%Y-%m-%d")
        data = data.append_column("dt", days)
        written = []
        for day in sorted(set(days.to_pylist())):
            part = data.filter(pc.equal(data.column("dt"), day)).drop_columns(["dt"])
            part = part.sort_by(table.time_column)
            for index in range(0, part.num_rows, ROWS_PER_FILE):
                chunk = part.slice(index, ROWS_PER_FILE)
                relative = f"{table.name}/dt={day}/part-{run_id}-{index // ROWS_PER_FILE}.parquet"
                target = self.root / STAGING / run_id / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                temporary = target.with_name(f".{target.name}.tmp")
                pq.write_table(chunk, temporary, compression="zstd")
                os.replace(temporary, target)
                written.append(relative)
        return written

    def commit(self, manifest: RunManifest) -> None:
        _atomic_write(self.root / MANIFEST / f"{manifest.run_id}.json", manifest.to_json())

    def publish(self, manifest: RunManifest) -> None:
        self._publish(manifest)

    def _publish(self, manifest: RunManifest) -> None:
        staged = self.root / STAGING / manifest.run_id
        for relative in manifest.files:
            source, target = staged / relative, self.root / relative
            if source.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, target)
        shutil.rmtree(staged, ignore_errors=True)

    def read(self, table: str) -> pa.Table:
        """A table as readers see it (tests, `certsight sql` later)."""
        folder = self.root / table
        if not folder.is_dir():
            return TABLES[table].schema.empty_table()
        return pq.read_table(folder, partitioning="hive")
