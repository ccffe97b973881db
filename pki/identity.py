"""Issuer identity as OCSP CertIDs carry it (RFC 6960 4.1.1).

issuerNameHash is the hash of the issuer's DER-encoded subject name;
issuerKeyHash is the hash of the subjectPublicKey BIT STRING's value, without
tag, length or unused-bits octet. ``issuer_key_sha1`` (hex) is certsight's key
for an issuer everywhere.
"""

from __future__ import annotations

import hashlib

from asn1crypto import keys as asn1_keys
from cryptography import x509
from cryptography.hazmat.primitives import serialization

# OIDs of the hash algorithms a CertID may use, with hashlib names.
HASH_OIDS: dict[str, str] = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
HASH_NAMES_TO_OID = {name: oid for oid, name in HASH_OIDS.items()}


def public_key_bits(cert: x509.Certificate) -> bytes:
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    bits: bytes = asn1_keys.PublicKeyInfo.load(spki)["public_key"].contents[1:]
    return bits


def key_sha1(cert: x509.Certificate) -> str:
    """certsight's issuer key: SHA-1 over the public key bits, lowercase hex."""
    return hashlib.sha1(public_key_bits(cert)).hexdigest()  # noqa: S324 - RFC 6960 identifier


def issuer_hashes(cert: x509.Certificate) -> dict[str, tuple[bytes, bytes]]:
    """``{hash name: (name hash, key hash)}`` for every hash a CertID may use."""
    name = cert.subject.public_bytes()
    bits = public_key_bits(cert)
    return {
        algorithm: (hashlib.new(algorithm, name).digest(), hashlib.new(algorithm, bits).digest())
        for algorithm in HASH_OIDS.values()
    }
