"""Where signed CRLs meet: the issuance module's CRL updater puts, the responders get.

The internet-facing responder holds no CA key (Boulder's crl-updater split): it serves
whatever bytes the updater stored last. Two backends behind one small interface, chosen
by a location URI like the LAKE's: a folder (the default, ``HOME/pki/crl``) or an S3
prefix (``s3://bucket/prefix``, endpoint and credentials from the standard AWS
settings). A version token (file size and mtime in nanoseconds, or the S3 ETag) lets a
reader notice a new CRL with one cheap call instead of reading the bytes again.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pki.store.base import StoreError, StoreUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class CrlStoreError(StoreError):
    """A CRL could not be stored or read; the message names where."""


@dataclass(frozen=True, slots=True)
class StoredCrl:
    name: str
    der: bytes
    version: str  # changes whenever the bytes do


class CrlStore(Protocol):
    """One object per CA, named like the distribution point: ``<name>.crl``."""

    location: str

    def put(self, name: str, der: bytes) -> None: ...

    def get(self, name: str) -> StoredCrl | None: ...

    def version(self, name: str) -> str | None: ...


def check_name(name: str) -> str:
    """CA names become file and object names: refuse anything that could leave the prefix."""
    if not _NAME.fullmatch(name) or ".." in name:
        raise CrlStoreError(f"not a CRL name: {name!r}")
    return name


class FolderCrlStore:
    """``<folder>/<name>.crl``, replaced atomically (write, fsync, rename, fsync the folder):
    a reader sees the old CRL or the new one, never half of one, even after a power loss."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.location = str(folder)

    def _path(self, name: str) -> Path:
        return self.folder / f"{check_name(name)}.crl"

    def put(self, name: str, der: bytes) -> None:
        target = self._path(name)
        temporary = self.folder / f".{target.name}.{os.getpid()}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with temporary.open("wb") as handle:
                handle.write(der)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
            directory = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise CrlStoreError(f"cannot store {target}: {exc.strerror or exc}") from exc

    def version(self, name: str) -> str | None:
        try:
            stat = self._path(name).stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreUnavailableError(f"cannot read {self._path(name)}: {exc}") from exc
        return f"{stat.st_size}-{stat.st_mtime_ns}-{stat.st_ino}"

    def get(self, name: str) -> StoredCrl | None:
        path = self._path(name)
        try:
            with path.open("rb") as handle:
                stat = os.fstat(handle.fileno())
                der = handle.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreUnavailableError(f"cannot read {path}: {exc}") from exc
        return StoredCrl(name, der, f"{stat.st_size}-{stat.st_mtime_ns}-{stat.st_ino}")


class S3CrlStore:
    """``s3://bucket/prefix/<name>.crl``; the version is the object's ETag."""

    def __init__(self, bucket: str, prefix: str, client: S3Client) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.location = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._client = client

    def _key(self, name: str) -> str:
        stem = f"{check_name(name)}.crl"
        return f"{self.prefix}/{stem}" if self.prefix else stem

    def put(self, name: str, der: bytes) -> None:
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=self._key(name),
                Body=der,
                ContentType="application/pkix-crl",
            )
        except Exception as exc:
            raise CrlStoreError(f"cannot store {self.location}/{name}.crl: {exc}") from exc

    def version(self, name: str) -> str | None:
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=self._key(name))
        except Exception as exc:
            if _missing(exc):
                return None
            raise StoreUnavailableError(f"cannot read {self.location}/{name}.crl: {exc}") from exc
        return str(head["ETag"])

    def get(self, name: str) -> StoredCrl | None:
        try:
            reply = self._client.get_object(Bucket=self.bucket, Key=self._key(name))
            der = reply["Body"].read()
        except Exception as exc:
            if _missing(exc):
                return None
            raise StoreUnavailableError(f"cannot read {self.location}/{name}.crl: {exc}") from exc
        return StoredCrl(name, der, str(reply["ETag"]))


def _missing(exc: Exception) -> bool:
    response: Any = getattr(exc, "response", None)
    code = (response or {}).get("Error", {}).get("Code")
    return code in {"404", "NoSuchKey", "NotFound"}


def open_crl_store(location: str) -> CrlStore:
    """A folder path or ``s3://bucket[/prefix]``."""
    if location.startswith("s3://"):
        import boto3  # only when asked for: the folder backend needs no AWS SDK

        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        if not bucket:
            raise CrlStoreError("s3:// CRL location needs a bucket: s3://BUCKET[/PREFIX]")
        return S3CrlStore(bucket, prefix, boto3.session.Session().client("s3"))
    if "://" in location:
        raise CrlStoreError(f"unsupported CRL location {location!r}: use a folder or s3://")
    return FolderCrlStore(Path(location))
