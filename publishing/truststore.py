"""Trust-store bundles: the CA certificates in the formats relying parties load.

Certificates in, bytes out (no I/O, no clock): a bundle is ``roots`` (self-signed CAs)
or ``intermediates`` (the others), each rendered as PEM, PKCS#7 certs-only (DER and
PEM, what Windows and many appliances import) and a PKCS#12 Java trust store.

The PKCS#12 is made with ``serialize_java_truststore``: it marks every certificate with
Java's trusted-key-usage attribute, so keytool and ``KeyStore.getInstance("PKCS12")``
list each one as a ``trustedCertEntry``. The plain PKCS#12 serializer stores the same
certificates without that mark and Java then sees zero entries (FIELD-NOTES).

A bundle's version is its content: the first 16 hex digits of the SHA-256 over the
DER certificates in order. The same certificates always give the same version, so
publishing again is a no-op; a new or renewed CA gives a new version beside the old
one. The PKCS#12 bytes also depend on the password (and on a random salt), so only the
certificates name the version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

DEFAULT_PASSWORD = "changeit"  # noqa: S105 - Java's well-known trust-store default
VERSION_HEX = 16


class TrustStoreError(ValueError):
    """A bundle cannot be built as asked; the message says which and why."""


class Bundle(StrEnum):
    ROOTS = "roots"
    INTERMEDIATES = "intermediates"


class Format(StrEnum):
    """A file of a bundle; the value is the file's suffix after the bundle name."""

    PEM = "pem"
    P7B = "p7b"
    P7B_PEM = "p7b.pem"
    P12 = "p12"


MEDIA_TYPES = {
    Format.PEM: "application/x-pem-file",
    Format.P7B: "application/pkcs7-mime",
    Format.P7B_PEM: "application/x-pem-file",
    Format.P12: "application/x-pkcs12",
}


@dataclass(frozen=True)
class BundleFiles:
    """One bundle at one version: its files by format, and a manifest describing them."""

    bundle: Bundle
    version: str
    certificates: tuple[x509.Certificate, ...]
    files: dict[Format, bytes]

    def file_name(self, fmt: Format) -> str:
        return f"{self.bundle.value}.{fmt.value}"

    def manifest(self) -> bytes:
        """What the bundle holds, as JSON: each certificate (subject, fingerprint, expiry)
        and each file's size and SHA-256, so a download can be checked without TUF."""
        document = {
            "bundle": self.bundle.value,
            "version": self.version,
            "certificates": [
                {
                    "subject": cert.subject.rfc4514_string(),
                    "serial": format(cert.serial_number, "x"),
                    "not_after": cert.not_valid_after_utc.isoformat(),
                    "sha256_fingerprint": cert.fingerprint(hashes.SHA256()).hex(),
                }
                for cert in self.certificates
            ],
            "files": [
                {
                    "name": self.file_name(fmt),
                    "format": fmt.value,
                    "bytes": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
                for fmt, data in self.files.items()
            ],
        }
        return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def is_root(certificate: x509.Certificate) -> bool:
    """Self-issued: subject and issuer are the same name (RFC 5280 3.2)."""
    return certificate.subject == certificate.issuer


def split_bundles(
    certificates: Sequence[x509.Certificate],
) -> dict[Bundle, tuple[x509.Certificate, ...]]:
    """Roots and intermediates, each in the order given; an empty bundle is left out."""
    roots = tuple(c for c in certificates if is_root(c))
    others = tuple(c for c in certificates if not is_root(c))
    found = {Bundle.ROOTS: roots, Bundle.INTERMEDIATES: others}
    return {bundle: certs for bundle, certs in found.items() if certs}


def content_version(certificates: Sequence[x509.Certificate]) -> str:
    digest = hashlib.sha256()
    for certificate in certificates:
        digest.update(certificate.public_bytes(serialization.Encoding.DER))
    return digest.hexdigest()[:VERSION_HEX]


def _alias(certificate: x509.Certificate) -> bytes:
    """A readable keytool alias: the CN when there is one, else the fingerprint."""
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if names and isinstance(names[0].value, str):
        return names[0].value.lower().encode()
    return certificate.fingerprint(hashes.SHA256()).hex()[:16].encode()


def build_bundle(
    bundle: Bundle, certificates: Sequence[x509.Certificate], *, password: str
) -> BundleFiles:
    """Every format of one bundle. ``password`` protects the PKCS#12's integrity (a
    trust store holds no secret; Java and trust-manager still ask for one)."""
    if not certificates:
        raise TrustStoreError(f"the {bundle.value} bundle has no certificates")
    if not password:
        raise TrustStoreError("a PKCS#12 trust store needs a non-empty password")
    certs = tuple(certificates)
    aliases = [_alias(c) for c in certs]
    if len(set(aliases)) != len(aliases):  # two CAs with one CN: keytool needs distinct
        aliases = [f"{a.decode()}-{i}".encode() for i, a in enumerate(aliases)]
    p7b = pkcs7.serialize_certificates(list(certs), serialization.Encoding.DER)
    files = {
        Format.PEM: b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs),
        Format.P7B: p7b,
        Format.P7B_PEM: pkcs7.serialize_certificates(list(certs), serialization.Encoding.PEM),
        Format.P12: pkcs12.serialize_java_truststore(
            [
                pkcs12.PKCS12Certificate(cert, alias)
                for cert, alias in zip(certs, aliases, strict=True)
            ],
            serialization.BestAvailableEncryption(password.encode()),
        ),
    }
    return BundleFiles(bundle, content_version(certs), certs, files)


def opens_with(p12: bytes, password: str) -> bool:
    """Whether a PKCS#12 opens with ``password`` (so it need not be made again)."""
    try:
        pkcs12.load_pkcs12(p12, password.encode())
    except ValueError:
        return False
    return True


def build_bundles(certificates: Sequence[x509.Certificate], *, password: str) -> list[BundleFiles]:
    """The roots bundle and, when there are any, the intermediates bundle."""
    if not certificates:
        raise TrustStoreError("no CA certificates to build trust stores from")
    return [
        build_bundle(bundle, certs, password=password)
        for bundle, certs in split_bundles(certificates).items()
    ]
