"""RAW objects deleted once the LAKE has held their rows for ``raw_days``: the RAW half
of retention (``ingest/retention.py``).

RAW keeps client addresses as they were logged, so it must not outlive its use: feeding
the LAKE. An object goes only when a committed run read this very version of it (its key
is in the manifests, ``ingest/manifests.py``) and that run started before the limit. An
object no run has read is never deleted, however old: that would lose its rows for good.
Those past the limit by their own age are counted and named, so that an operator learns
about logs the ingest never took in.

The version read is the version deleted: on S3 a ``DeleteObject`` with ``If-Match`` on the
ETag the listing gave, so an object rewritten since (same name, new content) stays;
locally the size and modification time are checked again just before the unlink.
Deleting is safe to repeat: an object already gone counts as deleted.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ingest.lake import Lake
from ingest.sources import SourceObject, find_sources
from ingest.storage import StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

_IO_THREADS = 16  # S3 deletes one conditional request at a time: a few side by side
_CHANGED = frozenset({"PreconditionFailed", "412"})
_GONE = frozenset({"NoSuchKey", "404", "NotFound"})
_NAMED = 5  # objects named in the warning; the count says how many


@dataclass
class RawExpiry:
    deleted: int = 0
    bytes: int = 0
    # read by no committed run and older than the limit by their own time: kept
    not_ingested: list[str] = field(default_factory=list)
    changed: int = 0  # rewritten since a run read them: a new version, kept


def expire_raw(
    lake: Lake,
    locations: Sequence[str],
    before: datetime,
    *,
    dry_run: bool = False,
    confirm: Callable[[], None] = lambda: None,
    s3_client: S3Client | None = None,
) -> RawExpiry:
    """Delete the RAW objects under ``locations`` that a run started before ``before``
    ingested. ``confirm`` (the LAKE lock's) is asked before anything is deleted."""
    done = RawExpiry()
    if not locations:
        return done
    if s3_client is None and any(uri.startswith("s3://") for uri in locations):
        import boto3

        s3_client = boto3.session.Session().client("s3")
    objects = find_sources(locations, s3_client=s3_client)
    keys = [key for item in objects for key in item.lookup_keys]
    long_ago = lake.ingested_before(keys, before)
    ingested = lake.ingested(keys)
    doomed: list[SourceObject] = []
    for item in objects:
        if any(key in long_ago for key in item.lookup_keys):
            doomed.append(item)
        elif not any(key in ingested for key in item.lookup_keys) and _modified(item) < before:
            done.not_ingested.append(item.uri)
    if done.not_ingested:
        log.warning(
            "RAW retention: %d object(s) older than the limit were never ingested and are "
            "kept (RAW is deleted only once the LAKE holds its rows), such as %s",
            len(done.not_ingested),
            ", ".join(done.not_ingested[:_NAMED]),
        )
    if dry_run:
        done.deleted, done.bytes = len(doomed), sum(item.size for item in doomed)
        return done
    if doomed:
        confirm()
    local = [item for item in doomed if not item.uri.startswith("s3://")]
    remote = [item for item in doomed if item.uri.startswith("s3://")]
    outcomes = [_delete_local(item) for item in local]
    if remote:
        assert s3_client is not None
        client = s3_client
        with ThreadPoolExecutor(_IO_THREADS, thread_name_prefix="raw-expiry") as pool:
            outcomes += pool.map(lambda item: _delete_s3(client, item), remote)
    for item, deleted in zip([*local, *remote], outcomes, strict=True):
        if deleted:
            done.deleted += 1
            done.bytes += item.size
        else:
            done.changed += 1
    if done.changed:
        log.warning(
            "RAW retention: %d object(s) changed since they were ingested and are kept "
            "(the next ingest reads the new version)",
            done.changed,
        )
    _prune_folders(local, locations)
    return done


def _modified(item: SourceObject) -> datetime:
    """When the object was last written: its version locally, the time S3 gave."""
    nanoseconds = int(item.legacy_version or item.version)
    return datetime.fromtimestamp(nanoseconds / 1e9, UTC)


def _delete_local(item: SourceObject) -> bool:
    path = Path(item.uri)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return True  # gone already: a run killed after deleting it
    if (stat.st_size, str(stat.st_mtime_ns)) != (item.size, item.version):
        return False
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise StorageError(f"{path}: cannot delete: {exc.strerror}") from exc
    return True


def _delete_s3(client: S3Client, item: SourceObject) -> bool:
    bucket, _, key = item.uri.removeprefix("s3://").partition("/")
    try:
        client.delete_object(Bucket=bucket, Key=key, IfMatch=f'"{item.version}"')
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _GONE:
            return True
        if code in _CHANGED:
            return False
        raise StorageError(f"{item.uri}: cannot delete: {exc}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"{item.uri}: cannot delete: {exc}") from exc
    return True


def _prune_folders(deleted: Sequence[SourceObject], locations: Sequence[str]) -> None:
    """Folders left empty by the deletion (a day's log folder), up to the RAW location
    itself, which stays. ``rmdir`` removes only an empty folder, so one a writer has just
    put a file into is left."""
    roots = {Path(uri).expanduser().resolve() for uri in locations if "://" not in uri}
    folders = {Path(item.uri).parent for item in deleted}
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        current = folder
        while current not in roots and any(root in current.parents for root in roots):
            try:
                os.rmdir(current)
            except OSError:
                break  # not empty (or gone): its parents are not empty either
            current = current.parent
