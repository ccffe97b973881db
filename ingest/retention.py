"""``certsight lake retain``: how long the LAKE and RAW keep what they keep.

Validation logs say which address trusted which server: personal data in most places.
Three limits (``[privacy]`` in certsight.toml; docs/lake.md, "Retention"):

- ``client_address_days``: a day whose traffic is all older than this has its client
  addresses (``client_ip``; addresses quoted in quarantined records) replaced by the
  dashboards' keyed pseudonyms (``ingest/pseudonymise.py``);
- ``lake_days``: traffic and quarantine days older than this are deleted (None: kept);
  the inventory tables (certificates, revocations, issuers) are never aged out;
- ``raw_days``: RAW objects a committed run read longer ago than this are deleted, and
  never one no run has read (``ingest/raw_expiry.py``).

Crash-safe without a commit record of its own, because every step is atomic per file and
safe to repeat, as compaction is:

- a file is pseudonymised by writing the new file aside (under ``_staging/`` locally,
  fsynced) and putting it in the old one's place in one step: a rename locally, one PUT
  of the same key on S3. A reader sees the old file or the new one, never both and never
  neither, whatever the moment of a kill; a run killed half-way leaves some files done,
  and the next run does the rest (a pseudonym is never pseudonymised again);
- a partition is deleted by renaming its folder into staging locally (gone in one step),
  on S3 by deleting its objects in batches; a run killed half-way leaves fewer files,
  and the next deletes the rest. Staging left by a killed run has no manifest: the next
  ingest, compaction or retention removes it (``Lake.recover``).

The work is done under the LAKE lock (``ingest/locking.py``), taken afresh for each
partition so that ingests wait for one partition at most, never for a whole first run
over years of history; ``Hold.confirm`` is asked before each change, so a holder whose S3
lease was taken over changes nothing more. Each run ends with a record,
``_retention/<generation>.json``: what it did, and the fingerprint (file names and sizes)
of every partition it found holding no raw address, so the next run reads only the
partitions that changed since (a late log's new file, a compaction).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from ingest.lake import STAGING, Lake, new_run_id
from ingest.locking import Hold, lake_lock
from ingest.pseudonymise import Pseudonyms, pseudonymise, tables_with_addresses
from ingest.raw_expiry import RawExpiry, expire_raw
from ingest.storage import StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

RETENTION = "_retention"
KEEP_RECORDS = 32  # a month of daily runs, for whoever asks what retention did
_RECORD = re.compile(r"^(\d{12})\.json$")
_DAY = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")
_MARK = b"certsight.pseudonymised_at"


@dataclass(frozen=True)
class Limits:
    """The three limits in days (validated by ``[privacy]``'s model)."""

    client_address_days: int
    raw_days: int
    lake_days: int | None = None

    def __post_init__(self) -> None:
        for name in ("client_address_days", "raw_days", "lake_days"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 day, not {value}")

    def addresses_before(self, now: datetime) -> date:
        """Days before this one are wholly older than the address limit: a day is
        pseudonymised once its last microsecond is ``client_address_days`` old."""
        return (now - timedelta(days=self.client_address_days)).astimezone(UTC).date()

    def partitions_before(self, now: datetime) -> date | None:
        if self.lake_days is None:
            return None
        return (now - timedelta(days=self.lake_days)).astimezone(UTC).date()

    def raw_before(self, now: datetime) -> datetime:
        """RAW read by a run that started before this may go."""
        return now - timedelta(days=self.raw_days)


@dataclass(frozen=True)
class PartitionDone:
    table: str
    partition: str  # dt=YYYY-MM-DD
    files: int  # rewritten, or deleted
    values: int  # addresses (or texts quoting one) replaced; rows for a deletion
    bytes: int  # written, or freed


@dataclass
class RetentionReport:
    now: datetime
    dry_run: bool
    addresses_before: date
    partitions_before: date | None
    raw_before: datetime
    pseudonymised: list[PartitionDone] = field(default_factory=list)
    deleted: list[PartitionDone] = field(default_factory=list)
    raw: RawExpiry = field(default_factory=RawExpiry)
    partitions_read: int = 0  # read in search of raw addresses (the others were known clean)
    record: str | None = None  # the record this run wrote

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("now", "addresses_before", "partitions_before", "raw_before"):
            value = getattr(self, name)
            out[name] = value.isoformat() if value is not None else None
        return out


def retain(
    lake: Lake,
    now: datetime,
    limits: Limits,
    pseudonyms: Pseudonyms,
    *,
    raw: Sequence[str] = (),
    dry_run: bool = False,
    timeout_s: float = 600.0,
    s3_client: S3Client | None = None,
) -> RetentionReport:
    """Apply ``limits`` as of ``now`` to ``lake`` and to the RAW ``raw`` locations; with
    ``dry_run``, only say what would be done (nothing is written, no record)."""
    report = RetentionReport(
        now,
        dry_run,
        limits.addresses_before(now),
        limits.partitions_before(now),
        limits.raw_before(now),
    )
    if lake.where.is_s3 and s3_client is None:
        import boto3

        s3_client = boto3.session.Session().client("s3")
    client = s3_client

    @contextlib.contextmanager
    def locked() -> Iterator[Hold]:
        with lake_lock(lake, timeout_s=timeout_s, client=client) as hold:
            yield hold

    run_id = new_run_id(now)
    with locked():
        if not dry_run:
            lake.recover()  # committed runs' files in place, dead staging gone
        known_clean = _last_record(lake).get("clean", {})
        listing = {table: _partitions(lake, table) for table in tables_with_addresses()}
    clean: dict[str, dict[str, str]] = {}
    for table, days in listing.items():
        for day, files in sorted(days.items()):
            if report.partitions_before is not None and day < report.partitions_before:
                with locked() as hold:
                    deleted = _delete_partition(lake, table, day, run_id, hold, dry_run)
                if deleted is not None:
                    report.deleted.append(deleted)
                continue
            if day >= report.addresses_before:
                continue
            if known_clean.get(table, {}).get(day.isoformat()) == _fingerprint(files):
                clean.setdefault(table, {})[day.isoformat()] = _fingerprint(files)
                continue
            with locked() as hold:
                done, after = _pseudonymise_partition(
                    lake, table, day, now, run_id, pseudonyms, hold, dry_run
                )
            report.partitions_read += 1
            if done is not None:
                report.pseudonymised.append(done)
            if not (dry_run and done is not None):
                clean.setdefault(table, {})[day.isoformat()] = _fingerprint(after)
    with locked() as hold:
        report.raw = expire_raw(
            lake, raw, report.raw_before, dry_run=dry_run, confirm=hold.confirm, s3_client=client
        )
        if not dry_run:
            hold.confirm()
            report.record = _write_record(lake, report, limits, clean, run_id)
    _log(report)
    return report


# -- the LAKE's partitions --------------------------------------------------------------


def _partitions(lake: Lake, table: str) -> dict[date, dict[str, int]]:
    """Every ``<table>/dt=YYYY-MM-DD`` folder's Parquet files: path -> size."""
    found: dict[date, dict[str, int]] = {}
    base = lake.where.path(table)
    for info in _list(lake, base, recursive=True):
        parts = info.path[len(base) :].strip("/").split("/")
        if info.type != pafs.FileType.File or len(parts) != 2:
            continue
        matched = _DAY.match(parts[0])
        if matched is None or parts[1].startswith(".") or not parts[1].endswith(".parquet"):
            continue  # temporary or foreign files are not part of the LAKE
        day = date.fromisoformat(matched.group(1))
        found.setdefault(day, {})[info.path] = info.size or 0
    return found


def _partition_files(lake: Lake, table: str, day: date) -> dict[str, int]:
    """One partition's files as they are now (under the lock)."""
    folder = lake.where.path(table, f"dt={day.isoformat()}")
    return {
        info.path: info.size or 0
        for info in _list(lake, folder)
        if info.type == pafs.FileType.File
        and info.base_name.endswith(".parquet")
        and not info.base_name.startswith(".")
    }


def _list(lake: Lake, path: str, *, recursive: bool = False) -> list[pafs.FileInfo]:
    try:
        found: list[pafs.FileInfo] = lake.fs.get_file_info(
            pafs.FileSelector(path, allow_not_found=True, recursive=recursive)
        )
    except OSError as exc:
        raise StorageError(f"{lake.uri}: cannot list {path}: {exc}") from exc
    return found


def _fingerprint(files: Mapping[str, int]) -> str:
    entries = sorted(f"{path.rpartition('/')[2]}:{size}" for path, size in files.items())
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


def _pseudonymise_partition(
    lake: Lake,
    table: str,
    day: date,
    now: datetime,
    run_id: str,
    pseudonyms: Pseudonyms,
    hold: Hold,
    dry_run: bool,
) -> tuple[PartitionDone | None, dict[str, int]]:
    """Each file of the partition that holds a raw address, rewritten and swapped in;
    returns what was done and the partition's files (path -> size) afterwards."""
    files = _partition_files(lake, table, day)
    after = dict(files)
    rewritten = values = written = 0
    for path in sorted(files):
        result = pseudonymise(_read(lake, path), table, pseudonyms)
        if result.values == 0:
            continue
        rewritten, values = rewritten + 1, values + result.values
        if dry_run:
            continue
        body = _encode(result.data, files[path], now)
        hold.confirm()
        _swap_in(lake, path, body, run_id)
        after[path], written = len(body), written + len(body)
    _drop_staging(lake, run_id)
    if rewritten == 0:
        return None, after
    return PartitionDone(table, f"dt={day.isoformat()}", rewritten, values, written), after


def _read(lake: Lake, path: str) -> pa.Table:
    try:
        with lake.fs.open_input_file(path) as source:
            return pq.read_table(source)
    except (OSError, pa.ArrowException) as exc:
        # Never skipped: a file left out would keep its addresses past the limit.
        raise StorageError(f"{lake.where.uri_of(path)}: cannot read for retention: {exc}") from exc


def _encode(data: pa.Table, old_size: int, now: datetime) -> bytes:
    """The file's new bytes, marked with when it was pseudonymised. Never the old size:
    the warehouse tells a changed day by its files' names, sizes and times, and S3 keeps
    times to the second (warehouse/partitions.py)."""
    metadata = {**(data.schema.metadata or {}), _MARK: now.isoformat().encode()}
    while True:
        sink = pa.BufferOutputStream()
        pq.write_table(data.replace_schema_metadata(metadata), sink, compression="zstd")
        body: bytes = sink.getvalue().to_pybytes()
        if len(body) != old_size:
            return body
        metadata[b"certsight.padding"] = metadata.get(b"certsight.padding", b"") + b"-"


def _swap_in(lake: Lake, path: str, body: bytes, run_id: str) -> None:
    """Replace the file at ``path`` with ``body`` in one step."""
    if lake.where.is_s3:
        lake.put(path, body)  # one PUT of the same key: the old object or the new one
        return
    staged = Path(lake.where.path(STAGING, run_id, path[len(lake.where.root) :].lstrip("/")))
    staged.parent.mkdir(parents=True, exist_ok=True)
    with staged.open("wb") as handle:
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())  # the bytes are down before the name points at them
    os.replace(staged, path)


def _drop_staging(lake: Lake, run_id: str) -> None:
    if not lake.where.is_s3:
        shutil.rmtree(lake.where.path(STAGING, run_id), ignore_errors=True)


def _delete_partition(
    lake: Lake, table: str, day: date, run_id: str, hold: Hold, dry_run: bool
) -> PartitionDone | None:
    files = _partition_files(lake, table, day)
    if not files:
        return None
    rows = sum(_rows(lake, path) for path in files)
    done = PartitionDone(table, f"dt={day.isoformat()}", len(files), rows, sum(files.values()))
    if dry_run:
        return done
    hold.confirm()
    folder = lake.where.path(table, f"dt={day.isoformat()}")
    if lake.where.is_s3:
        lake.delete(sorted(files))
        return done
    parked = Path(lake.where.path(STAGING, run_id, table, f"dt={day.isoformat()}"))
    parked.parent.mkdir(parents=True, exist_ok=True)
    os.replace(folder, parked)  # the whole day leaves the table in one rename
    _drop_staging(lake, run_id)
    return done


def _rows(lake: Lake, path: str) -> int:
    try:
        with lake.fs.open_input_file(path) as source:
            return int(pq.ParquetFile(source).metadata.num_rows)
    except (OSError, pa.ArrowException):
        return 0  # counted for the report only; the file goes anyway


# -- the record ---------------------------------------------------------------------------


def addresses_kept_from(lake: Lake) -> date | None:
    """The first day whose client addresses the last retention run left as logged, or
    None when none has run: the warehouse ages its alerts by what the LAKE did, not by
    the calendar. Read without the lock: a record is written whole, and the newest is
    never the one a run prunes."""
    value = _last_record(lake).get("addresses_before")
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _records(lake: Lake) -> list[tuple[int, str]]:
    found = []
    for info in _list(lake, lake.where.path(RETENTION)):
        matched = _RECORD.match(info.base_name)
        if info.type == pafs.FileType.File and matched:
            found.append((int(matched.group(1)), info.path))
    return sorted(found)


def _last_record(lake: Lake) -> dict[str, Any]:
    records = _records(lake)
    if not records:
        return {}
    path = records[-1][1]
    try:
        with lake.fs.open_input_stream(path) as stream:
            record = json.loads(stream.read())
    except (OSError, ValueError) as exc:
        # Only what it saves is lost: every partition is read again, none skipped.
        log.warning("%s cannot be read (%s): every partition is checked again", path, exc)
        return {}
    return record if isinstance(record, dict) else {}


def _write_record(
    lake: Lake,
    report: RetentionReport,
    limits: Limits,
    clean: Mapping[str, Mapping[str, str]],
    run_id: str,
) -> str:
    records = _records(lake)
    generation = records[-1][0] + 1 if records else 1
    body = {
        "run_id": run_id,
        "limits": asdict(limits),
        **report.as_dict(),
        "clean": clean,
    }
    path = lake.where.path(RETENTION, f"{generation:012d}.json")
    lake.put(path, json.dumps(body, indent=1, default=str).encode())
    lake.delete([old for number, old in records if number <= generation - KEEP_RECORDS])
    return lake.where.uri_of(path)


def _log(report: RetentionReport) -> None:
    verb = "would be" if report.dry_run else "were"
    log.info(
        "LAKE retention: %d partition(s) %s pseudonymised (days before %s), %d deleted, "
        "%d RAW object(s) deleted; %d partition(s) read",
        len(report.pseudonymised),
        verb,
        report.addresses_before,
        len(report.deleted),
        report.raw.deleted,
        report.partitions_read,
    )
