"""Build one full CRL for one CA (RFC 5280 5.1): entries, CRL number, AKI, reasons.

The revoked list is handed to the builder in one go: chaining
``add_revoked_certificate`` copies the list each time and is quadratic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from pki.keys import SigningKey
from pki.reasons import RevocationReason
from pki.store.base import CertificateRecord


@dataclass(frozen=True)
class BuiltCrl:
    der: bytes
    number: int
    this_update: datetime
    next_update: datetime
    entries: int


def build_crl(
    *,
    ca_cert: x509.Certificate,
    ca_key: SigningKey,
    revoked: Iterable[CertificateRecord],
    number: int,
    this_update: datetime,
    next_update: datetime,
) -> BuiltCrl:
    if next_update <= this_update:
        raise ValueError("a CRL's nextUpdate must come after its thisUpdate")
    entries = []
    for record in revoked:
        assert record.revoked_at is not None
        extensions: list[x509.Extension[x509.ExtensionType]] = []
        reason = record.revocation_reason
        # 5.3.1: reasonCode is omitted rather than set to unspecified.
        if reason is not None and reason is not RevocationReason.unspecified:
            extensions.append(
                x509.Extension(x509.CRLReason.oid, False, x509.CRLReason(reason.to_x509()))
            )
        entries.append(
            x509.RevokedCertificateBuilder(
                serial_number=int(record.serial, 16),
                revocation_date=record.revoked_at,
                extensions=extensions,
            ).build()
        )
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key())  # type: ignore[arg-type]
    builder = x509.CertificateRevocationListBuilder(
        issuer_name=ca_cert.subject,
        last_update=this_update,
        next_update=next_update,
        extensions=[
            x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(number)),
            x509.Extension(x509.AuthorityKeyIdentifier.oid, False, aki),
        ],
        revoked_certificates=entries,
    )
    crl = builder.sign(ca_key, hashes.SHA256())
    return BuiltCrl(
        der=crl.public_bytes(serialization.Encoding.DER),
        number=number,
        this_update=this_update,
        next_update=next_update,
        entries=len(entries),
    )
