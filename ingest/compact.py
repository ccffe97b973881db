"""``certsight lake compact``: merge a partition's small files into few large ones.

Many small ingests (``certsight run`` ingests every minute) leave many small files;
readers pay per file. The compacted partition is written beside the live one
under ``_staging/`` and the two folders are exchanged in one atomic rename
(``renameat2(RENAME_EXCHANGE)``), so a reader sees either all old files or all
new ones. The old folder then sits in staging and is deleted; if the process dies
first, the next ingest or compaction deletes it (staging without a manifest).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq

from ingest.lake import ROWS_PER_FILE, STAGING, Lake, new_run_id
from ingest.locking import exclusive
from ingest.schema import TABLES

SMALL_FILE_BYTES = 64 * 1024 * 1024
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


@dataclass
class Compacted:
    table: str
    partition: str
    files_before: int
    files_after: int
    rows: int


def _exchange(first: Path, second: Path) -> None:
    """Swap two folders atomically where the kernel can (Linux); else two renames, which
    leave the partition missing, never doubled, for an instant."""
    libc_name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(libc_name, use_errno=True) if libc_name else None
    renameat2 = getattr(libc, "renameat2", None) if libc else None
    if renameat2 is not None:
        result = renameat2(
            _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
        )
        if result == 0:
            return
    parked = second.with_name(second.name + ".old")
    os.replace(second, parked)
    os.replace(first, second)
    os.replace(parked, first)


def compact(
    lake: Lake, now: datetime, *, table: str | None = None, min_files: int = 2
) -> list[Compacted]:
    done: list[Compacted] = []
    root = lake.local_path()
    with exclusive(root):
        lake.recover()
        for name in [table] if table else list(TABLES):
            folder = root / name
            if not folder.is_dir():
                continue
            for partition in sorted(p for p in folder.iterdir() if p.name.startswith("dt=")):
                result = _compact_partition(root, name, partition, now, min_files)
                if result is not None:
                    done.append(result)
    return done


def _compact_partition(
    root: Path, table: str, partition: Path, now: datetime, min_files: int
) -> Compacted | None:
    files = sorted(partition.glob("*.parquet"))
    small = [f for f in files if f.stat().st_size < SMALL_FILE_BYTES]
    if len(small) < min_files:
        return None
    schema = TABLES[table].schema
    data = pq.read_table(files, schema=schema).sort_by(TABLES[table].time_column)
    run_id = new_run_id(now)
    staged = root / STAGING / run_id / table / partition.name
    staged.mkdir(parents=True)
    count = 0
    for index in range(0, max(data.num_rows, 1), ROWS_PER_FILE):
        target = staged / f"part-{run_id}-{index // ROWS_PER_FILE}.parquet"
        temporary = target.with_name(f".{target.name}.tmp")
        pq.write_table(data.slice(index, ROWS_PER_FILE), temporary, compression="zstd")
        os.replace(temporary, target)
        count += 1
    _exchange(staged, partition)
    shutil.rmtree(root / STAGING / run_id)
    return Compacted(table, partition.name, len(files), count, data.num_rows)
