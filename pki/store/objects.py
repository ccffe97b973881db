"""Named objects in a folder or under an S3 prefix: the one place certsight writes files
that other processes read (signed CRLs, published CA certificates, reports).

A location is a URI like the LAKE's: a folder path or ``s3://bucket/prefix`` (endpoint
and credentials from the standard AWS settings). A reader sees an object whole or not
at all: a folder write goes to a hidden temporary file that is fsynced and renamed over
the target, and the folder is fsynced too, so a power loss cannot revert or tear it; S3
objects appear whole by design. A version token (size, mtime and inode of a file, or
the S3 ETag) lets a reader notice a change with one cheap call.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pki.store.base import StoreError, StoreUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MAX_NAME_BYTES = 255  # a file name's limit on every file system certsight runs on


class ObjectStoreError(StoreError):
    """An object could not be written (or the location is unusable); the message says where."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    name: str
    data: bytes
    version: str  # changes whenever the bytes do


class ObjectStore(Protocol):
    location: str

    def put(self, name: str, data: bytes, media_type: str) -> str:
        """Store ``data`` as ``name``; returns where it went (a path or an s3:// URI)."""
        ...

    def get(self, name: str) -> StoredObject | None: ...

    def version(self, name: str) -> str | None: ...


def check_name(name: str) -> str:
    """Object names become file names and keys: refuse what could leave the location or
    hide in it (separators, ``.`` and ``..``, a leading dot, control characters), and what
    no file system takes (over 255 bytes). Spaces and other scripts are ordinary names."""
    if (
        not name
        or name.startswith(".")
        or any(char in name for char in "/\\")
        or any(ord(char) < 32 or ord(char) == 127 for char in name)
        or len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES
    ):
        raise ObjectStoreError(f"not an object name: {name!r}")
    return name


def _file_version(stat: os.stat_result) -> str:
    return f"{stat.st_size}-{stat.st_mtime_ns}-{stat.st_ino}"


class FolderObjectStore:
    def __init__(self, folder: Path, *, mode: int = 0o644) -> None:
        self.folder = folder
        self.location = str(folder)
        self._mode = mode

    def put(self, name: str, data: bytes, media_type: str) -> str:
        del media_type  # a file system keeps no media type
        target = self.folder / check_name(name)
        temporary = self.folder / f".{name}.{os.getpid()}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with temporary.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            temporary.chmod(self._mode)
            os.replace(temporary, target)
            directory = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as exc:
            with contextlib.suppress(OSError):  # the folder itself may be what failed
                temporary.unlink(missing_ok=True)
            raise ObjectStoreError(f"cannot write {target}: {exc.strerror or exc}") from exc
        return str(target)

    def version(self, name: str) -> str | None:
        path = self.folder / check_name(name)
        try:
            return _file_version(path.stat())
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreUnavailableError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def get(self, name: str) -> StoredObject | None:
        path = self.folder / check_name(name)
        try:
            with path.open("rb") as handle:
                stat = os.fstat(handle.fileno())
                data = handle.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreUnavailableError(f"cannot read {path}: {exc.strerror or exc}") from exc
        return StoredObject(name, data, _file_version(stat))


class S3ObjectStore:
    """``s3://bucket/prefix/<name>``, with the media type a CDN passes on to clients."""

    def __init__(self, bucket: str, prefix: str, client: S3Client) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.location = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._client = client

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{check_name(name)}" if self.prefix else check_name(name)

    def put(self, name: str, data: bytes, media_type: str) -> str:
        key = self._key(name)
        try:
            self._client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=media_type)
        except Exception as exc:
            raise ObjectStoreError(f"cannot write s3://{self.bucket}/{key}: {exc}") from exc
        return f"s3://{self.bucket}/{key}"

    def version(self, name: str) -> str | None:
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=self._key(name))
        except Exception as exc:
            if _missing(exc):
                return None
            raise StoreUnavailableError(f"cannot read {self.location}/{name}: {exc}") from exc
        return str(head["ETag"])

    def get(self, name: str) -> StoredObject | None:
        try:
            reply = self._client.get_object(Bucket=self.bucket, Key=self._key(name))
            data = reply["Body"].read()
        except Exception as exc:
            if _missing(exc):
                return None
            raise StoreUnavailableError(f"cannot read {self.location}/{name}: {exc}") from exc
        return StoredObject(name, data, str(reply["ETag"]))


def _missing(exc: Exception) -> bool:
    response: Any = getattr(exc, "response", None)
    code = (response or {}).get("Error", {}).get("Code")
    return code in {"404", "NoSuchKey", "NotFound"}


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> ``(bucket, prefix)``; ``ObjectStoreError`` without a bucket."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise ObjectStoreError(f"{uri!r} names no bucket: use s3://BUCKET[/PREFIX]")
    return bucket, prefix.strip("/")


def open_object_store(location: str, *, client: S3Client | None = None) -> ObjectStore:
    """A folder path or ``s3://bucket[/prefix]`` (boto3 is imported only for S3)."""
    if location.startswith("s3://"):
        bucket, prefix = split_s3_uri(location)
        if client is None:
            import boto3

            client = boto3.session.Session().client("s3")
        return S3ObjectStore(bucket, prefix, client)
    if "://" in location:
        raise ObjectStoreError(f"unsupported location {location!r}: use a folder or s3://")
    return FolderObjectStore(Path(location))
