"""Certificates (PEM, DER, bundles) and CRLs (PEM, DER) into the inventory.

This is how certificates from CAs certsight did not issue (another internal CA,
AWS Private CA, a public CA) enter the picture. CA certificates register issuers
with their SHA-1 and SHA-256 name and key hashes; leaf certificates become
inventory rows; each CRL entry becomes a revocation. A leaf's issuer key is taken
from the issuer's certificate when the same object carries it, else from the
leaf's Authority Key Identifier, which CAs compute as the SHA-1 of their key
(RFC 5280 4.2.1.2 method 1).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from ingest.rows import ObjectRows, RecordError
from pki.identity import key_sha1, public_key_bits
from pki.serials import serial_hex

_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)
CERTIFICATE_LABELS = {b"CERTIFICATE", b"TRUSTED CERTIFICATE", b"X509 CERTIFICATE"}
CRL_LABELS = {b"X509 CRL"}


def key_algorithm(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ec-p256", "secp384r1": "ec-p384", "secp521r1": "ec-p521"}.get(
            key.curve.name, f"ec-{key.curve.name}"
        )
    if isinstance(key, rsa.RSAPublicKey):
        return f"rsa-{key.key_size}"
    if isinstance(key, dsa.DSAPublicKey):
        return f"dsa-{key.key_size}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448"
    return type(key).__name__


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False
    except ValueError:
        return False


def authority_key_id(item: x509.Certificate | x509.CertificateRevocationList) -> str | None:
    try:
        value = item.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    return value.key_identifier.hex() if value.key_identifier else None


def fingerprint(blob: bytes) -> str:
    """What quarantine keeps of binary or PEM input it cannot read: a hash, not the bytes."""
    return f"sha256:{hashlib.sha256(blob).hexdigest()} ({len(blob)} bytes, content withheld)"


def split_objects(data: bytes) -> list[tuple[str, bytes]]:
    """``(kind, DER)`` for every certificate and CRL in PEM text, or the one DER object."""
    if b"-----BEGIN" in data:
        found = []
        for match in _PEM.finditer(data):
            label = match.group(1)
            kind = (
                "certificate"
                if label in CERTIFICATE_LABELS
                else ("crl" if label in CRL_LABELS else label.decode("ascii", "replace").lower())
            )
            found.append((kind, match.group(0)))
        return found
    return [("der", data)]


def _load(kind: str, blob: bytes) -> x509.Certificate | x509.CertificateRevocationList:
    if kind == "certificate":
        return x509.load_pem_x509_certificate(blob)
    if kind == "crl":
        return x509.load_pem_x509_crl(blob)
    if kind == "der":
        try:
            return x509.load_der_x509_certificate(blob)
        except ValueError:
            return x509.load_der_x509_crl(blob)
    raise ValueError(f"PEM block of type {kind!r} is neither a certificate nor a CRL")


def read_certificates(data: bytes, fmt: str, out: ObjectRows, now: datetime) -> None:
    loaded: list[tuple[int, x509.Certificate | x509.CertificateRevocationList]] = []
    for position, (kind, blob) in enumerate(split_objects(data), start=1):
        try:
            loaded.append((position, _load(kind, blob)))
        except ValueError as exc:
            out.records_read += 1
            # Never the content: an unreadable block may be a private key.
            out.quarantine(
                fmt, position, fingerprint(blob), f"not a certificate or CRL: {exc}", now
            )
    authorities = {
        item.subject.public_bytes(): item
        for _, item in loaded
        if isinstance(item, x509.Certificate) and is_ca(item)
    }
    origin = {"source": fmt, "source_object": out.source_object}
    for position, item in loaded:
        if isinstance(item, x509.Certificate):
            out.records_read += 1
            if is_ca(item):
                _add(out, "issuers", issuer_row(item, origin, position), fmt, item, now)
                continue
            issuer = authorities.get(item.issuer.public_bytes())
            issuer_key = key_sha1(issuer) if issuer is not None else authority_key_id(item)
            if issuer_key is None:
                out.quarantine(
                    fmt,
                    position,
                    item.subject.rfc4514_string(),
                    "issuer unknown: no Authority Key Identifier and no issuer "
                    "certificate in the same object",
                    now,
                )
                continue
            row = _certificate_row(item, issuer_key, origin, position)
            _add(out, "certificates", row, fmt, item, now)
        else:
            _crl_entries(item, authorities, origin, position, out, now, fmt)


def issuer_row(cert: x509.Certificate, origin: dict[str, Any], position: int) -> dict[str, Any]:
    """The ``issuers`` row of a CA certificate: the names and key hashes CertIDs carry."""
    name = cert.subject.public_bytes()
    bits = public_key_bits(cert)
    return {
        "issuer_key_sha1": hashlib.sha1(bits).hexdigest(),  # noqa: S324 - RFC 6960
        "subject": cert.subject.rfc4514_string(),
        "name_sha1": hashlib.sha1(name).hexdigest(),  # noqa: S324 - RFC 6960
        "name_sha256": hashlib.sha256(name).hexdigest(),
        "key_sha256": hashlib.sha256(bits).hexdigest(),
        "not_before": cert.not_valid_before_utc,
        "not_after": cert.not_valid_after_utc,
        "self_signed": cert.issuer == cert.subject,
        **origin,
        "source_line": position,
    }


def _certificate_row(
    cert: x509.Certificate, issuer_key: str, origin: dict[str, Any], position: int
) -> dict[str, Any]:
    try:
        sans = [
            str(name.value)
            for name in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            if isinstance(name, x509.DNSName | x509.IPAddress)
        ]
    except (x509.ExtensionNotFound, ValueError):
        sans = []
    return {
        "issuer_key_sha1": issuer_key,
        "serial": serial_hex(cert.serial_number),
        "subject": cert.subject.rfc4514_string(),
        "sans": sans,
        "not_before": cert.not_valid_before_utc,
        "not_after": cert.not_valid_after_utc,
        "key_algorithm": key_algorithm(cert),
        "profile": "imported",
        "requester": None,
        "ca_backend": "external",
        "issued_at": cert.not_valid_before_utc,
        **origin,
        "source_line": position,
    }


def _crl_entries(
    crl: x509.CertificateRevocationList,
    authorities: dict[bytes, x509.Certificate],
    origin: dict[str, Any],
    position: int,
    out: ObjectRows,
    now: datetime,
    fmt: str,
) -> None:
    issuer = authorities.get(crl.issuer.public_bytes())
    issuer_key = key_sha1(issuer) if issuer is not None else authority_key_id(crl)
    entries = list(crl)
    if issuer_key is None:
        out.records_read += max(1, len(entries))
        out.quarantine(
            fmt,
            position,
            crl.issuer.rfc4514_string(),
            "CRL issuer unknown: no Authority Key Identifier and no issuer "
            f"certificate in the same object ({len(entries)} entries)",
            now,
        )
        return
    for entry in entries:
        out.records_read += 1
        try:
            reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
        except (x509.ExtensionNotFound, ValueError):
            reason = None
        row = {
            "issuer_key_sha1": issuer_key,
            "serial": serial_hex(entry.serial_number),
            "revoked_at": entry.revocation_date_utc,
            "revocation_reason": None if reason is None else _REASONS.get(reason, reason),
            **origin,
            "source": "crl",
            "source_line": position,
        }
        try:
            out.add("revocations", row)
        except RecordError as exc:
            out.quarantine(fmt, position, f"CRL entry serial {row['serial']}", str(exc), now)
        else:
            out.records_written += 1


def _add(
    out: ObjectRows,
    table: str,
    row: dict[str, Any],
    fmt: str,
    item: x509.Certificate,
    now: datetime,
) -> None:
    """A certificate's row, or its quarantine when a field does not fit the LAKE (a
    subject of megabytes, a validity before 1950): named by subject, never by content."""
    try:
        out.add(table, row)
    except RecordError as exc:
        subject = item.subject.rfc4514_string()
        out.quarantine(fmt, row.get("source_line"), subject, str(exc), now)
    else:
        out.records_written += 1


# cryptography's ReasonFlags names -> RFC 5280 names, as certsight's own events spell them.
_REASONS = {
    "unspecified": "unspecified",
    "key_compromise": "keyCompromise",
    "ca_compromise": "cACompromise",
    "affiliation_changed": "affiliationChanged",
    "superseded": "superseded",
    "cessation_of_operation": "cessationOfOperation",
    "certificate_hold": "certificateHold",
    "privilege_withdrawn": "privilegeWithdrawn",
    "aa_compromise": "aACompromise",
    "remove_from_crl": "removeFromCRL",
}
