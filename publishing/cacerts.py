"""The CA certificates, published: what relying parties fetch to build and trust chains.

Certificates in, files out: each CA as DER ``<name>.crt`` (the ``caIssuers`` URL in
every issued certificate points at ``/ca/<name>.crt``, and RFC 5280 4.2.2.1 wants one
DER certificate there), one PEM bundle ``ca-bundle.pem`` for trust stores, and a JSON
manifest ``ca-manifest.json`` with each file's SHA-256 so that a download can be
checked. The destination is passed in (a folder, or an S3 prefix with a client the
caller made): this module never imports boto3.

Publishing is idempotent: a file whose content is already there is not written again,
so a scheduled run changes nothing (no new S3 version, no CDN invalidation, no new
mtime) until a CA certificate does. The manifest is written last, after the files it
describes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BUNDLE_NAME = "ca-bundle.pem"
MANIFEST_NAME = "ca-manifest.json"
MEDIA_TYPES = {
    ".crt": "application/pkix-cert",
    ".pem": "application/x-pem-file",
    ".json": "application/json",
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class PublishError(Exception):
    """Publishing failed; the message names the file and the location."""


@dataclass(frozen=True)
class CaCertificate:
    name: str  # file stem and URL path part: root-ca, issuing-ca
    certificate: x509.Certificate


@dataclass(frozen=True)
class PublishReport:
    location: str
    written: tuple[str, ...]
    unchanged: tuple[str, ...]


class Destination(Protocol):
    """Where published files go; names are flat (no folders)."""

    location: str

    def read(self, name: str) -> bytes | None: ...

    def write(self, name: str, data: bytes, media_type: str) -> None: ...


def _checked(name: str) -> str:
    if not _NAME.fullmatch(name) or ".." in name:
        raise PublishError(f"not a file name to publish: {name!r}")
    return name


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _describe(ca: CaCertificate) -> dict[str, str]:
    cert = ca.certificate
    return {
        "name": ca.name,
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "sha256_fingerprint": cert.fingerprint(hashes.SHA256()).hex(),
    }


def render(cas: Sequence[CaCertificate]) -> dict[str, bytes]:
    """The files to publish, in the order to write them (the manifest last).

    Everything is derived from the certificates alone, with no time stamp, so the same
    certificates always give the same bytes: that is what makes publishing idempotent.
    """
    if not cas:
        raise PublishError("no CA certificates to publish")
    names = [_checked(ca.name) for ca in cas]
    if len(set(names)) != len(names):
        raise PublishError(f"CA names repeat: {', '.join(names)}")
    files = {
        f"{ca.name}.crt": ca.certificate.public_bytes(serialization.Encoding.DER) for ca in cas
    }
    files[BUNDLE_NAME] = b"".join(
        ca.certificate.public_bytes(serialization.Encoding.PEM) for ca in cas
    )
    manifest = {
        "certificates": [_describe(ca) for ca in cas],
        "files": [
            {
                "name": name,
                "bytes": len(data),
                "sha256": _sha256(data),
                "media_type": MEDIA_TYPES[Path(name).suffix],
            }
            for name, data in files.items()
        ],
    }
    files[MANIFEST_NAME] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    return files


def publish(files: Mapping[str, bytes], destination: Destination) -> PublishReport:
    """Write each file whose content differs from what the destination holds."""
    written, unchanged = [], []
    for name, data in files.items():
        if destination.read(name) == data:
            unchanged.append(name)
            continue
        destination.write(
            name, data, MEDIA_TYPES.get(Path(name).suffix, "application/octet-stream")
        )
        written.append(name)
    return PublishReport(destination.location, tuple(written), tuple(unchanged))


def publish_ca_certificates(
    cas: Sequence[CaCertificate], destination: Destination
) -> PublishReport:
    return publish(render(cas), destination)


class FolderDestination:
    """``<folder>/<name>``, each replaced atomically (write, fsync, rename): a web server
    serving the folder hands out the old file or the new one, never half of one."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.location = str(folder)

    def read(self, name: str) -> bytes | None:
        path = self.folder / _checked(name)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise PublishError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def write(self, name: str, data: bytes, media_type: str) -> None:
        target = self.folder / _checked(name)
        temporary = self.folder / f".{name}.{os.getpid()}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with temporary.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            temporary.chmod(0o644)  # public material, served as it is
            os.replace(temporary, target)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise PublishError(f"cannot write {target}: {exc.strerror or exc}") from exc


class S3Destination:
    """``s3://bucket/prefix/<name>``, with the media type a CDN passes on to clients."""

    def __init__(self, bucket: str, prefix: str, client: S3Client) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.location = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._client = client

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{_checked(name)}" if self.prefix else _checked(name)

    def read(self, name: str) -> bytes | None:
        """The current bytes (the files are a few KiB: comparing bytes is cheaper to get
        right than ETags, which are no MD5 under SSE-KMS)."""
        try:
            reply = self._client.get_object(Bucket=self.bucket, Key=self._key(name))
            return reply["Body"].read()
        except Exception as exc:
            if _missing(exc):
                return None
            raise PublishError(f"cannot read {self.location}/{name}: {exc}") from exc

    def write(self, name: str, data: bytes, media_type: str) -> None:
        try:
            self._client.put_object(
                Bucket=self.bucket, Key=self._key(name), Body=data, ContentType=media_type
            )
        except Exception as exc:
            raise PublishError(f"cannot write {self.location}/{name}: {exc}") from exc


def _missing(exc: Exception) -> bool:
    response: Any = getattr(exc, "response", None)
    code = (response or {}).get("Error", {}).get("Code")
    return code in {"404", "NoSuchKey", "NotFound"}
