"""Find RAW objects: files, folders (recursively), glob patterns, and S3 prefixes.

Hidden files and ``*.tmp`` are skipped: writers (the responders' log batches,
Firehose-like tools) create them under such names and rename them when complete.

What makes a version of an object is its URI, size and a version: the modification
time (ns) of a local file, the ETag of an S3 object. S3 keeps modification times to the
second, so a same-size rewrite within a second had the same time: the ETag changes with
the content. The ETag alone, not the bucket's version id: a PUT that the SDK retried
after it had already succeeded makes a second version of the same bytes, which must not
be read twice (docs/lake.md).
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ingest.storage import StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectTypeDef

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NOT_AN_OBJECT = frozenset({"404", "NoSuchKey", "NotFound", "403", "AccessDenied"})


class SourceError(ValueError):
    """A source that names nothing readable."""


@dataclass(frozen=True, order=True)
class SourceObject:
    """One RAW object and what identifies this version of it."""

    uri: str
    size: int
    version: str  # mtime in ns locally, the ETag on S3
    # S3 only: the modification time (ns) that certsight used as the version before it
    # used ETags, so that objects ingested then are still known (``lookup_keys``).
    legacy_version: str | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return f"{self.uri}|{self.size}|{self.version}"

    @property
    def lookup_keys(self) -> tuple[str, ...]:
        """Every key under which a manifest may record this very version."""
        if self.legacy_version is None:
            return (self.key,)
        return self.key, f"{self.uri}|{self.size}|{self.legacy_version}"


def _visible(path: Path) -> bool:
    return not path.name.startswith(".") and not path.name.endswith(".tmp")


def _describe(path: Path) -> SourceObject:
    stat = path.stat()
    return SourceObject(str(path.resolve()), stat.st_size, str(stat.st_mtime_ns))


def _mtime_ns(when: datetime) -> str:
    """S3's LastModified as pyarrow gave it (and certsight recorded it) before ETags."""
    return str((when - _EPOCH) // timedelta(microseconds=1) * 1000)


def _s3_object(bucket: str, key: str, size: int, etag: str, modified: datetime) -> SourceObject:
    return SourceObject(f"s3://{bucket}/{key}", size, etag.strip('"'), _mtime_ns(modified))


def _listed(client: S3Client, bucket: str, prefix: str) -> Iterator[ObjectTypeDef]:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def _find_s3(prefix_uri: str, client: S3Client) -> list[SourceObject]:
    """One object named exactly, or every visible object under a prefix ("folder")."""
    bucket, _, key = prefix_uri.removeprefix("s3://").strip("/").partition("/")
    if not bucket:
        raise StorageError(f"{prefix_uri}: name a bucket, s3://bucket/prefix")
    try:
        if key:
            try:
                head = client.head_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                # 403 too: without s3:ListBucket, S3 answers a missing key with 403; the
                # listing below then says what is wrong.
                if str(exc.response.get("Error", {}).get("Code")) not in _NOT_AN_OBJECT:
                    raise
            else:
                size, etag, modified = head["ContentLength"], head["ETag"], head["LastModified"]
                return [_s3_object(bucket, key, size, etag, modified)]
        prefix = f"{key}/" if key else ""
        found = []
        for listed in _listed(client, bucket, prefix):
            name = listed["Key"]
            relative = name[len(prefix) :]
            if name.endswith("/") or not all(_visible(Path(p)) for p in relative.split("/")):
                continue  # folder markers, hidden and temporary objects
            found.append(
                _s3_object(bucket, name, listed["Size"], listed["ETag"], listed["LastModified"])
            )
    except (ClientError, BotoCoreError) as exc:
        raise StorageError(f"{prefix_uri}: cannot list: {exc}") from exc
    return found


def find_sources(
    sources: Iterable[str], *, s3_client: S3Client | None = None
) -> list[SourceObject]:
    found: dict[str, SourceObject] = {}
    for source in sources:
        if source.startswith("s3://"):
            if s3_client is None:
                import boto3  # only for S3 sources: keeps local runs' start-up short

                s3_client = boto3.session.Session().client("s3")
            for item in _find_s3(source, s3_client):
                found[item.uri] = item
            continue
        path = Path(source).expanduser()
        if path.is_dir():
            candidates = [p for p in path.rglob("*") if p.is_file()]
        elif path.is_file():
            candidates = [path]
        elif glob.has_magic(source):
            candidates = [Path(p) for p in glob.glob(source, recursive=True) if Path(p).is_file()]
        else:
            raise SourceError(f"{source}: no such file or folder")
        for candidate in candidates:
            parts = candidate.relative_to(path).parts if path.is_dir() else (candidate.name,)
            if all(_visible(Path(part)) for part in parts):
                described = _describe(candidate)
                found[described.uri] = described
    return sorted(found.values())
