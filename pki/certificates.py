"""Issue TLS certificates from the issuing CA, from a fresh key or a CSR.

The profile is the one CA/Browser Forum baseline servers expect (serverAuth and
clientAuth, SANs always present) with the AIA OCSP and CRL distribution point
that route every validation of the certificate to certsight's responders.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from pki.extensions import signing_key_usage
from pki.identity import key_sha1
from pki.keys import SigningKey, describe_key
from pki.layout import CaConfig
from pki.names import NameError_, check_dns_name, parse_san, san_text
from pki.serials import serial_hex
from pki.store.base import CertificateRecord

PROFILE_TLS = "tls-server"
MAX_DAYS = 398  # CA/Browser Forum ceiling for TLS server certificates today.

IssuablePublicKey = (
    ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)


class IssuanceError(ValueError):
    """The request cannot be issued as asked; the message says why."""


@dataclass(frozen=True)
class IssuedCertificate:
    certificate: x509.Certificate
    record: CertificateRecord


def _sans_for(
    common_name: str, sans: list[str], csr: x509.CertificateSigningRequest | None
) -> list[x509.GeneralName]:
    """Explicit ``--san`` wins; else the CSR's SANs; else the CN itself (RFC 6125: clients
    match SANs only, so a certificate without them is useless for TLS)."""
    try:
        if sans:
            names = [parse_san(value) for value in sans]
        elif csr is not None and _csr_sans(csr):
            names = [parse_san(san_text(name)) for name in _csr_sans(csr)]
        else:
            names = [parse_san(common_name)]
    except NameError_ as exc:
        raise IssuanceError(str(exc)) from exc
    unique: list[x509.GeneralName] = []
    for name in names:
        if name not in unique:
            unique.append(name)
    return unique


def _csr_sans(csr: x509.CertificateSigningRequest) -> list[x509.GeneralName]:
    try:
        ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [n for n in ext.value if isinstance(n, x509.DNSName | x509.IPAddress)]


def check_common_name(common_name: str) -> str:
    name = common_name.strip()
    if not name or len(name) > 64:
        raise IssuanceError("--cn must be 1 to 64 characters (RFC 5280 ub-common-name)")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        try:
            check_dns_name(name)
        except NameError_:
            pass  # A CN may be a label such as "payroll service"; SANs carry the host names.
    return name


EKU_OIDS: dict[str, x509.ObjectIdentifier] = {
    "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
    "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "codeSigning": ExtendedKeyUsageOID.CODE_SIGNING,
    "emailProtection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timeStamping": ExtendedKeyUsageOID.TIME_STAMPING,
}
DEFAULT_EKUS = ("serverAuth", "clientAuth")


def issue_certificate(
    *,
    common_name: str,
    sans: list[str],
    days: int | None = None,
    validity: timedelta | None = None,
    issuing_cert: x509.Certificate,
    issuing_key: SigningKey,
    config: CaConfig,
    now: datetime,
    public_key: IssuablePublicKey | None = None,
    csr: x509.CertificateSigningRequest | None = None,
    requester: str = "",
    issuing_ca_name: str = "issuing-ca",
    profile: str = PROFILE_TLS,
    ekus: tuple[str, ...] = DEFAULT_EKUS,
    ca_backend: str = "internal",
    csr_verified: bool = False,
    issuer_key_sha1: str | None = None,
) -> IssuedCertificate:
    """Build and sign a leaf. ``validity`` (the issuance API's, already within a profile's
    bounds) or ``days`` (``certsight issue --days``) sets the lifetime. A caller that has
    verified the CSR's signature itself says so (``csr_verified``), and one that issues
    many passes the issuer's ``issuer_key_sha1`` once computed: both are on the API's
    per-request path."""
    if validity is None:
        if days is None or not 1 <= days <= MAX_DAYS:
            raise IssuanceError(f"--days must be between 1 and {MAX_DAYS}, got {days}")
        validity = timedelta(days=days)
    elif not timedelta(minutes=5) <= validity <= timedelta(days=MAX_DAYS):
        raise IssuanceError(f"validity must be between 5 minutes and {MAX_DAYS} days")
    try:
        eku_oids = [EKU_OIDS[name] for name in ekus]
    except KeyError as exc:
        raise IssuanceError(f"unknown extended key usage {exc.args[0]}") from None
    cn = check_common_name(common_name)
    if csr is not None:
        if not csr_verified and not csr.is_signature_valid:
            raise IssuanceError("the CSR's signature does not verify: it was altered or is broken")
        csr_key = csr.public_key()
        if not isinstance(csr_key, IssuablePublicKey):
            raise IssuanceError(f"unsupported key type in CSR: {describe_key(csr_key)}")
        public_key = csr_key
    if public_key is None:
        raise IssuanceError("a public key or a CSR is needed")
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < 2048:
        raise IssuanceError(f"RSA keys under 2048 bits are refused (got {public_key.key_size})")

    names = _sans_for(cn, sans, csr)
    serial = int.from_bytes(os.urandom(16), "big") >> 1
    not_before = now - timedelta(minutes=5)
    not_after = now + validity
    is_rsa = isinstance(public_key, rsa.RSAPublicKey)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(issuing_cert.subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            signing_key_usage(key_encipherment=is_rsa),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(eku_oids),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuing_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(config.ocsp_url()),
                    ),
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier(config.ca_cert_url(issuing_ca_name)),
                    ),
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(config.crl_url(issuing_ca_name))],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
        .sign(issuing_key, hashes.SHA256())
    )
    record = CertificateRecord(
        issuer_key_sha1=issuer_key_sha1 or key_sha1(issuing_cert),
        serial=serial_hex(serial),
        subject=certificate.subject.rfc4514_string(),
        sans=tuple(san_text(name) for name in names),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        profile=profile,
        key_algorithm=describe_key(public_key),
        requester=requester,
        issued_at=now,
        ca_backend=ca_backend,
    )
    return IssuedCertificate(certificate=certificate, record=record)


def record_for_certificate(
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    *,
    profile: str,
    now: datetime,
    requester: str = "",
    ca_backend: str = "internal",
) -> CertificateRecord:
    """Inventory row for a certificate certsight did not build itself (CA, signer, or a
    leaf that an external CA backend returned)."""
    try:
        sans = tuple(
            san_text(n)
            for n in certificate.extensions.get_extension_for_class(
                x509.SubjectAlternativeName
            ).value
            if isinstance(n, x509.DNSName | x509.IPAddress)
        )
    except x509.ExtensionNotFound:
        sans = ()
    return CertificateRecord(
        issuer_key_sha1=key_sha1(issuer),
        serial=serial_hex(certificate.serial_number),
        subject=certificate.subject.rfc4514_string(),
        sans=sans,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        profile=profile,
        key_algorithm=describe_key(certificate.public_key()),
        requester=requester,
        issued_at=now,
        ca_backend=ca_backend,
    )
