"""The simulated enterprise's CAs: real EC P-256 keys, real certificates and CRLs.

Keys are derived from the seed (``derive_private_key``) and signatures are
deterministic (RFC 6979), so one seed gives byte-identical certificates and CRLs.
Keys never leave memory: nothing here writes a file. The hashes that OCSP CertIDs
carry (RFC 6960 4.1.1) are computed here once per CA, for SHA-1 and SHA-256.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pki.extensions import signing_key_usage
from pki.identity import issuer_hashes

BASE_URL = "http://pki.corp.example"
ORGANIZATION = "Corp Example"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass(frozen=True)
class Authority:
    """A CA and the identifiers requests and logs use for it."""

    slug: str  # file and CRL name: corp-issuing-ca-1
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    name_sha1: str
    key_sha1: str  # certsight's issuer key
    name_sha256: str
    key_sha256: str

    def hashes(self, algorithm: str) -> tuple[str, str]:
        """(issuer name hash, issuer key hash) of a CertID using ``algorithm``."""
        if algorithm == "sha1":
            return self.name_sha1, self.key_sha1
        return self.name_sha256, self.key_sha256

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Hierarchy:
    root: Authority
    issuing: tuple[Authority, ...]

    @property
    def all(self) -> tuple[Authority, ...]:
        return (self.root, *self.issuing)


def derive_key(label: str, seed: int) -> ec.EllipticCurvePrivateKey:
    """A P-256 key that depends only on the seed and what it is for."""
    digest = hashlib.sha256(f"certsight-simulate:{seed}:{label}".encode()).digest()
    scalar = int.from_bytes(digest, "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def _authority(slug: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Authority:
    hashes = issuer_hashes(cert)
    return Authority(
        slug=slug,
        certificate=cert,
        key=key,
        name_sha1=hashes["sha1"][0].hex(),
        key_sha1=hashes["sha1"][1].hex(),
        name_sha256=hashes["sha256"][0].hex(),
        key_sha256=hashes["sha256"][1].hex(),
    )


def _ca_certificate(
    *,
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    serial: int,
    not_before: datetime,
    years: int,
    path_length: int | None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_before + timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(signing_key_usage(certifies=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    return builder.sign(issuer_key, hashes.SHA256(), ecdsa_deterministic=True)


def _ca_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def build_hierarchy(seed: int, epoch: datetime, issuing_count: int = 2) -> Hierarchy:
    """One root and ``issuing_count`` issuing CAs, all valid long before ``epoch``."""
    root_key = derive_key("root", seed)
    root_name = _ca_name("Corp Root CA")
    root_cert = _ca_certificate(
        subject=root_name,
        key=root_key,
        issuer=root_name,
        issuer_key=root_key,
        serial=0x1000 + seed % 0xFFFF,
        not_before=epoch - timedelta(days=5 * 365),
        years=20,
        path_length=1,
    )
    issuing = []
    for number in range(1, issuing_count + 1):
        key = derive_key(f"issuing-{number}", seed)
        cert = _ca_certificate(
            subject=_ca_name(f"Corp Issuing CA {number}"),
            key=key,
            issuer=root_name,
            issuer_key=root_key,
            serial=0x2000 + number,
            not_before=epoch - timedelta(days=2 * 365 + 30 * number),
            years=8,
            path_length=0,
        )
        issuing.append(_authority(f"corp-issuing-ca-{number}", cert, key))
    return Hierarchy(_authority("corp-root-ca", root_cert, root_key), tuple(issuing))


def foreign_authority(seed: int, number: int, epoch: datetime) -> Authority:
    """A CA of somebody else (a supplier, an attacker's lab): CertIDs naming it match
    none of the enterprise's issuers."""
    key = derive_key(f"foreign-{number}", seed)
    names = ("Globex Issuing CA", "Initech Device CA", "Umbrella Test CA", "Acme Lab CA")
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Elsewhere Ltd"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{names[number % len(names)]} {number}"),
        ]
    )
    cert = _ca_certificate(
        subject=name,
        key=key,
        issuer=name,
        issuer_key=key,
        serial=0x3000 + number,
        not_before=epoch - timedelta(days=400),
        years=5,
        path_length=0,
    )
    return _authority(f"foreign-ca-{number}", cert, key)


def leaf_certificate(
    issuer: Authority,
    *,
    serial: int,
    host: str,
    address: str | None,
    not_before: datetime,
    not_after: datetime,
    key: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    """A TLS server certificate as the enterprise's CAs issue them: CN and DNS SAN are
    the host, an IP SAN when the server is also reached by address."""
    names: list[x509.GeneralName] = [x509.DNSName(host)]
    if address is not None:
        names.append(x509.IPAddress(ipaddress.IPv4Address(address)))
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            signing_key_usage(),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        x509.oid.AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(f"{BASE_URL}/ocsp"),
                    )
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(crl_url(issuer))],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
    )
    return builder.sign(issuer.key, hashes.SHA256(), ecdsa_deterministic=True)


def crl_url(issuer: Authority) -> str:
    return f"{BASE_URL}/crl/{issuer.slug}.crl"


_REASON_FLAGS = {
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "superseded": x509.ReasonFlags.superseded,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
}


def crl_der(
    issuer: Authority,
    entries: list[tuple[int, datetime, str]],
    *,
    number: int,
    this_update: datetime,
    next_update: datetime,
) -> bytes:
    """A full CRL (RFC 5280 5.1) of ``(serial, revoked at, reason)`` entries, with the
    CRL number and the Authority Key Identifier readers use to find the issuer."""
    revoked = [
        x509.RevokedCertificateBuilder()
        .serial_number(serial)
        .revocation_date(when)
        .add_extension(x509.CRLReason(_REASON_FLAGS[reason]), critical=False)
        .build()
        for serial, when, reason in entries
    ]
    builder = x509.CertificateRevocationListBuilder(
        issuer_name=issuer.certificate.subject,
        last_update=this_update,
        next_update=next_update,
        revoked_certificates=revoked,  # a list, not add_revoked_certificate: linear time
        extensions=[
            x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(number)),
            x509.Extension(
                x509.AuthorityKeyIdentifier.oid,
                False,
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            ),
        ],
    )
    return builder.sign(issuer.key, hashes.SHA256(), ecdsa_deterministic=True).public_bytes(
        serialization.Encoding.DER
    )
