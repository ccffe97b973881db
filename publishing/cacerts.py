"""The CA certificates, published: what relying parties fetch to build and trust chains.

Certificates in, files out: each CA as DER ``<name>.crt`` (the ``caIssuers`` URL in
every issued certificate points at ``/ca/<name>.crt``, and RFC 5280 4.2.2.1 wants one
DER certificate there), one PEM bundle ``ca-bundle.pem`` for trust stores, and a JSON
manifest ``ca-manifest.json`` with each file's SHA-256 so that a download can be
checked. The destination is passed in (``pki.store.objects``: a folder, or an S3 prefix
with a client the caller made): this module never imports boto3.

Publishing is idempotent: a file whose content is already there is not written again,
so a scheduled run changes nothing (no new S3 version, no CDN invalidation, no new
mtime) until a CA certificate does. The manifest is written last, after the files it
describes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from pki.layout import ISSUING_NAME, ROOT_NAME, PkiLayout
from pki.pem import load_pem_certificate
from pki.store.base import StoreError
from pki.store.objects import ObjectStore, ObjectStoreError, check_name

if TYPE_CHECKING:
    pass

BUNDLE_NAME = "ca-bundle.pem"
MANIFEST_NAME = "ca-manifest.json"
MEDIA_TYPES = {
    ".crt": "application/pkix-cert",
    ".pem": "application/x-pem-file",
    ".json": "application/json",
}


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


def _checked(name: str) -> str:
    try:
        return check_name(name)
    except ObjectStoreError:
        raise PublishError(f"not a file name to publish: {name!r}") from None


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


def publish(files: Mapping[str, bytes], destination: ObjectStore) -> PublishReport:
    """Write each file whose content differs from what the destination holds (the files
    are a few KiB: comparing bytes is cheaper to get right than ETags, which are no MD5
    under SSE-KMS)."""
    written, unchanged = [], []
    try:
        for name, data in files.items():
            held = destination.get(name)
            if held is not None and held.data == data:
                unchanged.append(name)
                continue
            destination.put(
                name, data, MEDIA_TYPES.get(Path(name).suffix, "application/octet-stream")
            )
            written.append(name)
    except StoreError as exc:
        raise PublishError(str(exc)) from exc
    return PublishReport(destination.location, tuple(written), tuple(unchanged))


def load_ca_certificates(layout: PkiLayout) -> list[CaCertificate]:
    """Root first, then the issuing CA: the order of the PEM bundle."""
    return [
        CaCertificate(ROOT_NAME, load_pem_certificate(layout.root_cert)),
        CaCertificate(ISSUING_NAME, load_pem_certificate(layout.issuing_cert)),
    ]


def publish_ca_certificates(
    cas: Sequence[CaCertificate], destination: ObjectStore
) -> PublishReport:
    return publish(render(cas), destination)
