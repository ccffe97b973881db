"""What changed in the LAKE since the last build, day by day.

A partition's fingerprint is the list of its files with their sizes and modification
times. The ingest only ever adds files, compaction swaps a folder, and retention rewrites
a file in place with pseudonyms (never at its old size, since S3 keeps times to the
second) or deletes a whole day, so a day whose fingerprint moved is a day to rebuild, a
day gone is a day to drop, and every other day is left alone: that is what keeps a daily
build over one new day from rebuilding history.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from pyarrow import fs as pafs

_DAY = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class Partition:
    table: str
    day: date
    fingerprint: str
    files: int


@dataclass(frozen=True)
class LakeChanges:
    """Days to rebuild per table, and whether days vanished (only a full build undoes that)."""

    changed: Mapping[str, tuple[date, ...]]
    vanished: Mapping[str, tuple[date, ...]] = field(default_factory=dict)

    @property
    def any(self) -> bool:
        return any(self.changed.values()) or any(self.vanished.values())


def list_partitions(
    filesystem: pafs.FileSystem, root: str, tables: Iterable[str]
) -> dict[tuple[str, date], Partition]:
    """Every ``<table>/dt=YYYY-MM-DD`` folder with at least one Parquet file."""
    found: dict[tuple[str, date], Partition] = {}
    for table in tables:
        base = f"{root.rstrip('/')}/{table}"
        selector = pafs.FileSelector(base, allow_not_found=True, recursive=True)
        per_day: dict[date, list[str]] = {}
        for info in filesystem.get_file_info(selector):
            if info.type != pafs.FileType.File or not info.path.endswith(".parquet"):
                continue
            parts = info.path[len(base) :].strip("/").split("/")
            match = _DAY.match(parts[0]) if len(parts) == 2 else None
            if match is None:
                continue  # staging, temporary or foreign files are not part of the LAKE
            mtime = info.mtime_ns if info.mtime_ns is not None else 0
            per_day.setdefault(date.fromisoformat(match.group(1)), []).append(
                f"{parts[1]}:{info.size}:{mtime}"
            )
        for day, entries in per_day.items():
            digest = hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()
            found[(table, day)] = Partition(table, day, digest, len(entries))
    return found


def compare(
    current: Mapping[tuple[str, date], Partition], seen: Mapping[tuple[str, date], str]
) -> LakeChanges:
    changed: dict[str, set[date]] = {}
    vanished: dict[str, set[date]] = {}
    for key, partition in current.items():
        if seen.get(key) != partition.fingerprint:
            changed.setdefault(partition.table, set()).add(partition.day)
    for table, day in seen:
        if (table, day) not in current:
            vanished.setdefault(table, set()).add(day)
    return LakeChanges(
        {t: tuple(sorted(d)) for t, d in changed.items()},
        {t: tuple(sorted(d)) for t, d in vanished.items()},
    )
