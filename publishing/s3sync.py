"""Upload the served publishing folder (HOME/publish) to an S3 prefix that CloudFront
serves, so that a client never sees metadata naming something not yet uploaded.

Why the order: a TUF client reads ``timestamp.json`` first and follows it to a snapshot,
the targets metadata and the target files. Uploading files and targets first, then the
metadata in TUF's order (every root version, targets, snapshot, ``timestamp.json``
last) means that at every instant the bucket holds a complete repository: the old one
until the new timestamp lands, the new one after. An interrupted run leaves the old
timestamp in place, and a re-run uploads what is still missing (objects are compared by
content), so the sync is idempotent.

Why compare by content: S3's ETag of a single-part upload is the MD5 of its bytes (a
one-line listing answers most objects); with SSE-KMS it is not, so each object also
carries its SHA-256 in its metadata (``x-amz-meta-sha256``), read with a HEAD when the
ETag does not match.

Nothing is ever deleted: consistent-snapshot files are small and a client in the middle
of an update (or a CloudFront edge holding a 60-second-old timestamp) may still fetch a
file an older snapshot names; the local folder never deletes them either.

Two refusals protect clients from a wrong HOME: a bucket whose ``timestamp.json`` has a
higher version than the local one (clients would see a rollback and refuse it), and a
versioned metadata file (``N.snapshot.json``) whose remote bytes differ (two
repositories have diverged). The S3 client is passed in (tests hand one pointing at
moto; the command makes one from the standard AWS settings).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from pki.store.objects import ObjectStoreError, split_s3_uri
from publishing.web import cache_control as served_cache_control
from publishing.web import content_type

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SHORT_CACHE = "public, max-age=60"  # timestamp.json and the plain copies change in place
METADATA = "tuf/metadata/"
_METADATA_ORDER = {"root": 1, "targets": 2, "snapshot": 3}  # timestamp.json: last
_DENIED = frozenset(
    {
        "AccessDenied",
        "403",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
    }
)


class SyncError(RuntimeError):
    """The sync failed part way or could not start (S3 unreachable, throttled): a re-run
    completes it."""


class SyncSourceError(SyncError):
    """The local folder has nothing to upload, or the URI is not ``s3://BUCKET[/PREFIX]``."""


class BucketMissingError(SyncError):
    """The bucket does not exist (or is in another account)."""


class AccessDeniedError(SyncError):
    """The credentials are missing, wrong or not allowed to list, read or write the prefix."""


class SyncConflictError(SyncError):
    """The bucket holds a newer or a different repository than the local folder."""


@dataclass(frozen=True)
class LocalObject:
    """One file of the served folder: its path (also its URL path and key suffix), its
    digests and the headers it is uploaded with."""

    path: str
    file: Path
    data: bytes = field(repr=False)
    sha256: str
    md5: str

    @property
    def content_type(self) -> str:
        return content_type(self.path)

    @property
    def cache_control(self) -> str:
        """Versioned metadata and hashed targets never change (cached a year, as the
        local server says); the rest changes in place and is cached briefly."""
        served = served_cache_control(f"/{self.path}")
        return served if "immutable" in served else SHORT_CACHE

    @property
    def versioned_metadata(self) -> bool:
        return self.path.startswith(METADATA) and self.path[len(METADATA) :][:1].isdigit()


@dataclass(frozen=True)
class SyncReport:
    uploaded: list[str]  # keys, in upload order
    unchanged: int
    kept: int  # objects under the prefix that are not in the local folder (never deleted)


def upload_rank(path: str) -> tuple[int, int, str]:
    """Files and targets first, then metadata: roots by version, targets, snapshot,
    ``timestamp.json`` last."""
    if not path.startswith(METADATA):
        return (0, 0, path)
    name = path[len(METADATA) :]
    if name == "timestamp.json":
        return (9, 0, path)
    version, _, role = name.partition(".")
    rank = _METADATA_ORDER.get(role.removesuffix(".json"), 2)  # delegated roles: with targets
    return (rank, int(version) if version.isdigit() else 0, path)


def local_objects(folder: Path) -> list[LocalObject]:
    """Every file under ``folder`` except hidden ones (writers' temporary files), in
    upload order, read into memory (the folder is small: wheels, bundles, JSON).

    ``timestamp.json`` is read first: the repository writes every file a timestamp
    names before the timestamp itself, so a publish running meanwhile can add newer
    files to the scan but never leave out one this timestamp needs. Refuses a folder
    without a timestamp: nothing is published yet."""
    stamp = folder / METADATA / "timestamp.json"
    try:
        found = {stamp: _local(folder, stamp)}
    except FileNotFoundError:
        raise SyncSourceError(
            f"nothing published at {folder} (run `certsight publish truststore` first)"
        ) from None
    for file in folder.rglob("*"):
        relative = file.relative_to(folder).as_posix()
        if file in found or any(p.startswith(".") for p in PurePosixPath(relative).parts):
            continue
        if file.is_file():
            found[file] = _local(folder, file)
    return sorted(found.values(), key=lambda o: upload_rank(o.path))


def _local(folder: Path, file: Path) -> LocalObject:
    data = file.read_bytes()
    return LocalObject(
        file.relative_to(folder).as_posix(),
        file,
        data,
        hashlib.sha256(data).hexdigest(),
        hashlib.md5(data, usedforsecurity=False).hexdigest(),
    )


def parse_uri(uri: str) -> tuple[str, str]:
    """``s3://BUCKET[/PREFIX]`` -> (bucket, prefix without slashes at its ends)."""
    if not uri.startswith("s3://"):
        raise SyncSourceError(f"not an S3 location: {uri!r} (use s3://BUCKET[/PREFIX])")
    try:
        return split_s3_uri(uri)
    except ObjectStoreError as exc:
        raise SyncSourceError(str(exc)) from None


class S3Sync:
    """Sync ``folder`` to ``s3://bucket/prefix`` through ``client``."""

    def __init__(self, folder: Path, uri: str, client: S3Client) -> None:
        self.folder = folder
        self.bucket, self.prefix = parse_uri(uri)
        self.location = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self._client = client

    def key(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path

    def run(self, progress: Callable[[str], None] | None = None) -> SyncReport:
        """Upload what differs, in the safe order; ``progress`` is told each key once
        it is uploaded."""
        objects = local_objects(self.folder)
        remote = self._call("list", self.location, self._list)
        changed = [o for o in objects if not self._same(o, remote.get(self.key(o.path)))]
        self._check_conflicts(changed, remote)
        uploaded = []
        for item in changed:
            key = self.key(item.path)
            self._call(
                "upload", f"s3://{self.bucket}/{key}", functools.partial(self._put, item, key)
            )
            uploaded.append(key)
            if progress is not None:
                progress(key)
        local_keys = {self.key(o.path) for o in objects}
        return SyncReport(uploaded, len(objects) - len(changed), len(set(remote) - local_keys))

    # -- comparing -----------------------------------------------------------------
    def _list(self) -> dict[str, str]:
        listed: dict[str, str] = {}
        paginator = self._client.get_paginator("list_objects_v2")
        search = f"{self.prefix}/" if self.prefix else ""
        for page in paginator.paginate(Bucket=self.bucket, Prefix=search):
            for entry in page.get("Contents", []):
                listed[entry["Key"]] = entry.get("ETag", "").strip('"')
        return listed

    def _same(self, item: LocalObject, etag: str | None) -> bool:
        if etag is None:
            return False
        if etag == item.md5:
            return True
        key = self.key(item.path)
        head = self._call(
            "read",
            f"s3://{self.bucket}/{key}",
            lambda: self._client.head_object(Bucket=self.bucket, Key=key),
        )
        return bool(head.get("Metadata", {}).get("sha256") == item.sha256)

    def _check_conflicts(self, changed: Sequence[LocalObject], remote: dict[str, str]) -> None:
        """Refuse before uploading anything when the bucket is ahead or has diverged."""
        diverged = [o.path for o in changed if o.versioned_metadata and self.key(o.path) in remote]
        if diverged:
            raise SyncConflictError(
                f"{self.location} holds different {', '.join(diverged[:3])}"
                f"{' and more' if len(diverged) > 3 else ''} than {self.folder}: another "
                "repository was published there; nothing uploaded"
            )
        stamp = next((o for o in changed if o.path == f"{METADATA}timestamp.json"), None)
        if stamp is None or self.key(stamp.path) not in remote:
            return
        key = self.key(stamp.path)
        theirs = _version(
            self._call("read", f"s3://{self.bucket}/{key}", lambda: self._get(key)), key
        )
        ours = _version(stamp.data, str(stamp.file))
        if theirs > ours:
            raise SyncConflictError(
                f"s3://{self.bucket}/{key} is version {theirs}, newer than the local "
                f"version {ours}: {self.folder} is behind the bucket (clients would refuse "
                "it as a rollback); nothing uploaded"
            )

    def _get(self, key: str) -> bytes:
        return self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def _put(self, item: LocalObject, key: str) -> None:
        self._client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=item.data,
            ContentType=item.content_type,
            CacheControl=item.cache_control,
            Metadata={"sha256": item.sha256},
        )

    def _call(self, doing: str, where: str, call: Callable[[], Any]) -> Any:
        """Run one S3 call; turn its failure into the error a user can act on."""
        try:
            return call()
        except NoCredentialsError:
            raise AccessDeniedError(
                f"cannot {doing} {where}: no AWS credentials found (set AWS_PROFILE or "
                "the standard AWS variables)"
            ) from None
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            message = exc.response.get("Error", {}).get("Message", "") or code
            if code == "NoSuchBucket":
                raise BucketMissingError(f"no bucket {self.bucket!r} ({self.location})") from None
            if code in _DENIED:
                raise AccessDeniedError(
                    f"cannot {doing} {where}: access denied ({code}: {message})"
                ) from None
            raise SyncError(f"cannot {doing} {where}: {code}: {message}") from None
        except BotoCoreError as exc:
            raise SyncError(f"cannot {doing} {where}: {exc}") from None


def _version(data: bytes, where: str) -> int:
    try:
        version = json.loads(data)["signed"]["version"]
    except (ValueError, KeyError, TypeError):
        raise SyncConflictError(
            f"{where} is not TUF timestamp metadata; nothing uploaded"
        ) from None
    if not isinstance(version, int):
        raise SyncConflictError(f"{where} has no integer version; nothing uploaded")
    return version
