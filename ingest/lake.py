"""The LAKE: Parquet files in Hive partitions, and an ingest manifest, on a local
folder or an S3 prefix.

Exactly once, and nothing half-visible, through a small commit protocol:

1. every file of a run is written under ``_staging/<run>/`` (complete objects:
   a temporary name and a rename locally, a single PUT on S3);
2. the run's manifest ``_manifest/<run>.json`` (its sources and files) is
   written the same way: this is the commit point;
3. the files are moved from staging into ``<table>/dt=YYYY-MM-DD/``.

A run killed before step 2 leaves staging that the next run deletes (its sources
are in no manifest, so they are read again). A run killed after step 2 is rolled
forward by the next run, which finishes the moves. Readers of the table folders
therefore never see a file twice or a file of an uncommitted run. Published runs'
manifests are later folded into one index (ingest/manifests.py), so that an ingest
does not read one manifest per run ever made.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from ingest.manifests import ManifestLog, RunManifest
from ingest.schema import TABLES, Table
from ingest.storage import Location, StorageError, location

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

__all__ = ["MANIFEST", "ROWS_PER_FILE", "STAGING", "Lake", "RunManifest", "new_run_id"]

MANIFEST = "_manifest"
STAGING = "_staging"
ROWS_PER_FILE = 1_000_000
_EPOCH = date(1970, 1, 1)
_MICROS_PER_DAY = 86_400_000_000


def new_run_id(now: datetime) -> str:
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}"


class Lake:
    def __init__(self, where: Location) -> None:
        self.where = where
        self.fs = where.filesystem
        self.committed = ManifestLog(self.fs, where.path(MANIFEST), self.put, self.delete)
        self._s3_client: S3Client | None = None

    @classmethod
    def at(cls, uri: str) -> Lake:
        return cls(location(uri))

    @property
    def uri(self) -> str:
        return self.where.uri

    def local_path(self) -> Path:
        """The folder of a local LAKE (compaction swaps folders, which S3 cannot)."""
        if self.where.is_s3:
            raise StorageError(f"{self.uri}: this operation needs a local LAKE")
        return Path(self.where.root)

    # -- plumbing ---------------------------------------------------------------
    def _info(self, path: str) -> pafs.FileInfo:
        try:
            info: pafs.FileInfo = self.fs.get_file_info(path)
        except OSError as exc:
            raise StorageError(f"{self.uri}: {exc}") from exc
        return info

    def _list(self, path: str, *, recursive: bool = False) -> list[pafs.FileInfo]:
        try:
            found: list[pafs.FileInfo] = self.fs.get_file_info(
                pafs.FileSelector(path, allow_not_found=True, recursive=recursive)
            )
        except OSError as exc:
            raise StorageError(f"{self.uri}: {exc}") from exc
        return found

    def put(self, path: str, data: bytes) -> None:
        """A complete object: on S3 one PUT is atomic; locally write aside, then rename."""
        if self.where.is_s3:
            with self.fs.open_output_stream(path) as stream:
                stream.write(data)
            return
        parent, _, name = path.rpartition("/")
        self.fs.create_dir(parent, recursive=True)
        temporary = f"{parent}/.{name}.{uuid.uuid4().hex[:8]}.tmp"
        with self.fs.open_output_stream(temporary) as stream:
            stream.write(data)
        self.fs.move(temporary, path)

    def delete(self, paths: list[str]) -> None:
        """Many objects, some perhaps gone already. On S3 one DeleteObjects per 1,000
        (pyarrow deletes one by one, and after each looks whether to put back a folder
        marker: three requests an object)."""
        if not self.where.is_s3:
            for path in paths:
                try:
                    self.fs.delete_file(path)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise StorageError(f"{path}: cannot delete: {exc}") from exc
            return
        from botocore.exceptions import BotoCoreError, ClientError

        if self._s3_client is None:
            import boto3

            self._s3_client = boto3.session.Session().client("s3")
        for start in range(0, len(paths), 1000):
            batch = paths[start : start + 1000]
            bucket = batch[0].partition("/")[0]
            objects: list[ObjectIdentifierTypeDef] = [
                {"Key": path.partition("/")[2]} for path in batch
            ]
            try:
                reply = self._s3_client.delete_objects(
                    Bucket=bucket, Delete={"Objects": objects, "Quiet": True}
                )
            except (ClientError, BotoCoreError) as exc:
                raise StorageError(f"{self.uri}: cannot delete: {exc}") from exc
            if errors := reply.get("Errors"):
                first = errors[0]
                raise StorageError(
                    f"{self.uri}: cannot delete {len(errors)} object(s), such as "
                    f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}"
                )

    def _write_parquet(self, data: pa.Table, path: str) -> None:
        if self.where.is_s3:
            pq.write_table(data, path, filesystem=self.fs, compression="zstd")
            return
        parent, _, name = path.rpartition("/")
        self.fs.create_dir(parent, recursive=True)
        temporary = f"{parent}/.{name}.tmp"
        pq.write_table(data, temporary, filesystem=self.fs, compression="zstd")
        self.fs.move(temporary, path)

    # -- state ------------------------------------------------------------------
    def manifests(self) -> list[RunManifest]:
        """Every committed run (ingest/manifests.py), in run order."""
        return self.committed.runs()

    def ingested(self, keys: Collection[str]) -> set[str]:
        """Which of these source keys (``SourceObject.key``) a committed run has read."""
        return self.committed.ingested(keys)

    def ingested_before(self, keys: Collection[str], moment: datetime) -> set[str]:
        """Which of these source keys a committed run that started before ``moment`` read
        (run ids begin with that start: ``new_run_id``)."""
        return self.committed.ingested_before(keys, f"{moment.astimezone(UTC):%Y%m%dT%H%M%S%fZ}")

    def compact_manifests(
        self, *, at_least: int | None = None, confirm: Callable[[], None] = lambda: None
    ) -> int:
        """Fold run manifests into the manifest index once ``at_least`` (default
        ``ingest.manifests.COMPACT_AT``) are waiting; runs still being published (their
        staging is there) stay out until recovery has finished them. ``confirm``: the
        lock's (``Hold.confirm``), asked before each write."""
        staged = [
            i.base_name
            for i in self._list(self.where.path(STAGING))
            if i.type == pafs.FileType.Directory
        ]
        return self.committed.fold(keep=staged, at_least=at_least, confirm=confirm)

    def recover(self) -> tuple[int, int]:
        """Roll committed runs forward and uncommitted ones back; returns (forward, back)."""
        staged = [
            i for i in self._list(self.where.path(STAGING)) if i.type == pafs.FileType.Directory
        ]
        if not staged:
            return 0, 0
        committed = {run.run_id: run for run in self.manifests()}
        forward = back = 0
        for info in staged:
            run = committed.get(info.base_name)
            if run is None:
                self.fs.delete_dir(info.path)
                back += 1
            else:
                self.publish(run)
                forward += 1
        return forward, back

    # -- writing ----------------------------------------------------------------
    def stage(self, run_id: str, table: Table, data: pa.Table, sequence: int = 0) -> list[str]:
        """Write rows as Parquet under staging, one or more files per dt partition;
        returns the files' final paths relative to the lake root."""
        if data.num_rows == 0:
            return []
        # Sorted once, then cut into days: a filter per day over rows gathered from
        # hundreds of objects (as many Arrow chunks) cost more than writing them.
        data = _sorted(data, table.time_column)
        times = data.column(table.time_column)
        first, last = pc.min_max(times).values()
        if first.as_py().date() == last.as_py().date():  # one day: no split needed
            groups = [(first.as_py().strftime("%Y-%m-%d"), data)]
        else:
            # Days as numbers from the UTC microseconds, not pc.strftime (time zone
            # aware, slower than the Parquet writing).
            days = pc.cast(times, pa.int64()).to_numpy() // _MICROS_PER_DAY
            starts = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist()]
            ends = [*starts[1:], data.num_rows]
            groups = [
                (
                    (_EPOCH + timedelta(days=int(days[start]))).strftime("%Y-%m-%d"),
                    data.slice(start, end - start),
                )
                for start, end in zip(starts, ends, strict=True)
            ]
        written = []
        for day, part in groups:
            for index in range(0, part.num_rows, ROWS_PER_FILE):
                name = f"part-{run_id}-{sequence:04d}-{index // ROWS_PER_FILE}.parquet"
                relative = f"{table.name}/dt={day}/{name}"
                self._write_parquet(
                    part.slice(index, ROWS_PER_FILE), self.where.path(STAGING, run_id, relative)
                )
                written.append(relative)
        return written

    def commit(self, manifest: RunManifest) -> None:
        self.committed.commit(manifest)

    def publish(self, manifest: RunManifest) -> None:
        for relative in manifest.files:
            source = self.where.path(STAGING, manifest.run_id, relative)
            if self._info(source).type == pafs.FileType.File:
                target = self.where.path(relative)
                if not self.where.is_s3:  # S3 has no folders to create
                    self.fs.create_dir(target.rpartition("/")[0], recursive=True)
                self.fs.move(source, target)  # S3: copy, then delete
        staged = self.where.path(STAGING, manifest.run_id)
        if self._info(staged).type != pafs.FileType.NotFound:
            self.fs.delete_dir(staged)

    def read(self, table: str) -> pa.Table:
        """A table as readers see it (tests, `certsight sql` later)."""
        folder = self.where.path(table)
        if self._info(folder).type == pafs.FileType.NotFound:
            return TABLES[table].schema.empty_table()
        return pq.read_table(folder, filesystem=self.fs, partitioning="hive")


def _sorted(data: pa.Table, column: str) -> pa.Table:
    """Sorted by time; logs mostly arrive in order, and then nothing is copied."""
    times = data.column(column)
    if data.num_rows < 2:
        return data
    in_order = pc.all(pc.greater_equal(times.slice(1), times.slice(0, data.num_rows - 1)))
    return data if in_order.as_py() else data.sort_by(column)
