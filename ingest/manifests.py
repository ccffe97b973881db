"""The record of committed ingest runs: one manifest per run, folded into an index.

A run commits by writing ``_manifest/<run>.json`` (its sources and files; ingest/lake.py).
``certsight run`` ingests every minute, 1,440 manifests a day, and every ingest must know
which RAW objects are in already. Reading every manifest each time costs one GET per run
ever made, so once ``COMPACT_AT`` manifests have piled up they are folded into one index,
``_manifest/index-<generation>.parquet``: a row per run with the manifest as it was
committed and, in a column read on its own, the keys of its sources.

Folding renames nothing (S3 cannot) and is safe to kill at any point:

1. the next generation of the index (the current one plus the manifests) is written as
   one complete object;
2. the manifests it holds are deleted, then the older generations.

A reader takes the highest generation and every manifest left, and a run found in both
counts once. Killed before 1: nothing changed. Between or during 2: some runs are in the
index and still have their manifest, which changes nothing, and the next fold deletes
them. No run is ever in neither, so none is read twice or lost.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from ingest.storage import StorageError

# A fold every 64 runs: an ingest reads the index and at most 63 manifests, and the index
# is rewritten about once an hour under `certsight run`.
COMPACT_AT = 64
# At most this many manifests per fold, so that a LAKE with months of manifests (before
# this index existed) is folded by a few ingests that each fit in a Lambda's 15 minutes.
FOLD_AT_MOST = 5_000
# Manifests are small objects: on S3 each read is a round trip, so a few run side by side
# (pyarrow lets go of the GIL while it waits).
_IO_THREADS = 16
_INDEX_NAME = re.compile(r"^index-(\d{12})\.parquet$")
INDEX_SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("started_at", pa.string(), nullable=False),
        pa.field("manifest", pa.string(), nullable=False),  # the JSON as committed
        pa.field("keys", pa.list_(pa.string()), nullable=False),  # of its sources
    ]
)


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

    @classmethod
    def from_json(cls, data: bytes | str) -> RunManifest:
        parsed = json.loads(data)
        return cls(parsed["run_id"], parsed["started_at"], parsed["sources"], parsed["files"])


@dataclass(frozen=True)
class _Listing:
    indexes: list[tuple[int, str]]  # (generation, path), lowest first
    manifests: list[str]  # paths, in run order

    @property
    def index(self) -> str | None:
        return self.indexes[-1][1] if self.indexes else None


def run_id_of(path: str) -> str:
    return path.rpartition("/")[2].removesuffix(".json")


class ManifestLog:
    """The committed runs of one LAKE, in ``folder``. ``put`` writes a complete object,
    ``delete`` removes objects that may already be gone (ingest/lake.py). Read and fold
    only under the LAKE's lock: a fold deletes what a reader without it may be about to
    open."""

    def __init__(
        self,
        filesystem: pafs.FileSystem,
        folder: str,
        put: Callable[[str, bytes], None],
        delete: Callable[[list[str]], None],
    ) -> None:
        self.fs = filesystem
        self.folder = folder
        self._put = put
        self._delete = delete
        # A manifest never changes once written (one per run, written once), so what was
        # read is kept: an ingest reads them to check its objects, then again to fold.
        self._read: dict[str, RunManifest] = {}

    # -- reading ----------------------------------------------------------------
    def _listing(self) -> _Listing:
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(self.folder, allow_not_found=True))
        except OSError as exc:
            raise StorageError(f"{self.folder}: cannot list the manifests: {exc}") from exc
        indexes, manifests = [], []
        for info in infos:
            if info.type != pafs.FileType.File:
                continue
            if info.base_name.endswith(".json") and not info.base_name.startswith("."):
                manifests.append(info.path)
            elif matched := _INDEX_NAME.match(info.base_name):
                indexes.append((int(matched.group(1)), info.path))
        return _Listing(sorted(indexes), sorted(manifests))

    def _read_manifest(self, path: str) -> RunManifest:
        try:
            with self.fs.open_input_stream(path) as stream:
                return RunManifest.from_json(stream.read())
        except (ValueError, KeyError, TypeError) as exc:
            # Never skipped: a run left out would have its objects ingested a second time.
            raise StorageError(
                f"{path}: a run manifest that cannot be read ({exc!r}); restore it, or "
                "move it away if its run's rows should be ingested again"
            ) from exc
        except OSError as exc:
            raise StorageError(f"{path}: cannot read: {exc}") from exc

    def _read_manifests(self, paths: list[str]) -> list[RunManifest]:
        unread = [p for p in paths if p not in self._read]
        if len(unread) < 2:
            self._read.update((p, self._read_manifest(p)) for p in unread)
        else:
            with ThreadPoolExecutor(_IO_THREADS, thread_name_prefix="manifests") as pool:
                self._read.update(zip(unread, pool.map(self._read_manifest, unread), strict=True))
        return [self._read[p] for p in paths]

    def _read_index(self, path: str, columns: list[str] | None = None) -> pa.Table:
        try:
            return pq.read_table(path, filesystem=self.fs, columns=columns, schema=INDEX_SCHEMA)
        except (OSError, pa.ArrowException) as exc:
            raise StorageError(
                f"{path}: the manifest index cannot be read ({exc}); the runs it holds "
                "are committed, so no ingest can run without it: restore it from a backup "
                "or an earlier generation beside it"
            ) from exc

    def runs(self) -> list[RunManifest]:
        """Every committed run, in run order."""
        listing = self._listing()
        found: dict[str, RunManifest] = {}
        if listing.index is not None:
            for text in self._read_index(listing.index, ["manifest"]).column("manifest"):
                run = RunManifest.from_json(text.as_py())
                found[run.run_id] = run
        for run in self._read_manifests(listing.manifests):
            found.setdefault(run.run_id, run)
        return [found[run_id] for run_id in sorted(found)]

    def ingested(self, keys: Collection[str]) -> set[str]:
        """Which of ``keys`` some committed run has read: the index's key column is
        searched where it lies (Arrow), not turned into Python strings."""
        if not keys:
            return set()
        wanted = set(keys)
        listing = self._listing()
        found: set[str] = set()
        if listing.index is not None:
            column = self._read_index(listing.index, ["keys"]).column("keys")
            candidates = pa.array(sorted(wanted), pa.string())
            seen = pc.is_in(candidates, value_set=pc.list_flatten(column.combine_chunks()))
            found.update(candidates.filter(seen).to_pylist())
        for run in self._read_manifests(listing.manifests):
            found.update(key for key in (s["key"] for s in run.sources) if key in wanted)
        return found

    def ingested_before(self, keys: Collection[str], before_run_id: str) -> set[str]:
        """Which of ``keys`` a committed run older than ``before_run_id`` has read. Run ids
        begin with their start in UTC (``ingest.lake.new_run_id``), so they sort by time:
        RAW retention asks which objects have been in the LAKE long enough."""
        if not keys:
            return set()
        wanted = set(keys)
        listing = self._listing()
        found: set[str] = set()
        if listing.index is not None:
            index = self._read_index(listing.index, ["run_id", "keys"])
            older = index.filter(pc.less(index.column("run_id"), before_run_id))
            candidates = pa.array(sorted(wanted), pa.string())
            flat = pc.list_flatten(older.column("keys").combine_chunks())
            found.update(candidates.filter(pc.is_in(candidates, value_set=flat)).to_pylist())
        for run in self._read_manifests(listing.manifests):
            if run.run_id < before_run_id:
                found.update(key for key in (s["key"] for s in run.sources) if key in wanted)
        return found

    # -- writing ----------------------------------------------------------------
    def commit(self, manifest: RunManifest) -> None:
        self._put(f"{self.folder}/{manifest.run_id}.json", manifest.to_json())

    def fold(
        self,
        *,
        keep: Iterable[str] = (),
        at_least: int | None = None,
        at_most: int | None = None,
        confirm: Callable[[], None] = lambda: None,
    ) -> int:
        """Fold the oldest manifests (not those of runs in ``keep``) into a new index once
        there are ``at_least`` (``COMPACT_AT``); returns how many runs the index gained.
        ``confirm`` raises if this process no longer holds the LAKE: it is asked before
        the index is written and before anything is deleted, since two folds at once
        could each delete manifests the other's index lacks."""
        listing = self._listing()
        kept = set(keep)
        waiting = [p for p in listing.manifests if run_id_of(p) not in kept]
        if len(waiting) < (COMPACT_AT if at_least is None else at_least):
            return 0
        folding = waiting[: FOLD_AT_MOST if at_most is None else at_most]
        current = (
            INDEX_SCHEMA.empty_table() if listing.index is None else self._read_index(listing.index)
        )
        already = set(current.column("run_id").to_pylist())
        fresh = [r for r in self._read_manifests(folding) if r.run_id not in already]
        index = pa.concat_tables([current, _index_rows(fresh)]).sort_by("run_id")
        generation = listing.indexes[-1][0] + 1 if listing.indexes else 1
        sink = pa.BufferOutputStream()
        pq.write_table(index, sink, compression="zstd")
        confirm()
        self._put(f"{self.folder}/index-{generation:012d}.parquet", sink.getvalue().to_pybytes())
        # From here on every folded run is in the new index: what follows only tidies.
        confirm()
        self._delete(folding)
        self._delete([path for _, path in listing.indexes])
        for path in folding:
            self._read.pop(path, None)
        return len(fresh)


def _index_rows(runs: list[RunManifest]) -> pa.Table:
    return pa.table(
        {
            "run_id": [r.run_id for r in runs],
            "started_at": [r.started_at for r in runs],
            "manifest": [r.to_json().decode() for r in runs],
            "keys": [[s["key"] for s in r.sources] for r in runs],
        },
        schema=INDEX_SCHEMA,
    )
