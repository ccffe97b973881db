"""AWS Private CA's shapes: its ARNs, serials, reasons, algorithms and request fields
made from certsight's values, and the chains in its answers put in order.

Pure functions and tables, with no client and no network, so they are kept apart from
the backend in ``aws_pca`` (which calls PCA) and can be tested on their own.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from issuance.backends.base import BackendConfigError, BackendRefusedError, CertificateOrder
from pki.reasons import RevocationReason

if TYPE_CHECKING:
    from mypy_boto3_acm_pca.literals import ExtendedKeyUsageTypeType, RevocationReasonType
    from mypy_boto3_acm_pca.type_defs import (
        ApiPassthroughTypeDef,
        ExtendedKeyUsageTypeDef,
        GeneralNameTypeDef,
        ValidityTypeDef,
    )

_CA_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):acm-pca:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):"
    r"certificate-authority/(?P<id>[0-9A-Za-z-]{1,64})"
)
CERTIFICATE_ID = r"/certificate/[0-9A-Za-z]{1,64}"
# The templates that take ApiPassthrough (EndEntityCertificate_APIPassthrough/V1,
# BlankEndEntityCertificate_APICSRPassthrough/V1, ...): the other templates do not take
# passthrough values, so asking for passthrough with one is a configuration error.
PASSTHROUGH_TEMPLATE = re.compile(r"template/[A-Za-z0-9]+_API(CSR)?Passthrough/V\d+$")

SIGNING_ALGORITHMS: Final = frozenset(
    {
        "SHA256WITHECDSA",
        "SHA384WITHECDSA",
        "SHA512WITHECDSA",
        "SHA256WITHRSA",
        "SHA384WITHRSA",
        "SHA512WITHRSA",
        "SHA256WITHRSA_PSS",
        "SHA384WITHRSA_PSS",
        "SHA512WITHRSA_PSS",
        "SM3WITHSM2",
        "ML_DSA_44",
        "ML_DSA_65",
        "ML_DSA_87",
    }
)
# The CA's KeyAlgorithm -> the signature PCA should make with it: the hash matched to the
# curve's strength for EC, SHA-256 for RSA (what every client verifies).
ALGORITHM_FOR_KEY: Final[dict[str, str]] = {
    "EC_prime256v1": "SHA256WITHECDSA",
    "EC_secp384r1": "SHA384WITHECDSA",
    "EC_secp521r1": "SHA512WITHECDSA",
    "RSA_2048": "SHA256WITHRSA",
    "RSA_3072": "SHA256WITHRSA",
    "RSA_4096": "SHA256WITHRSA",
    "SM2": "SM3WITHSM2",
    "ML_DSA_44": "ML_DSA_44",
    "ML_DSA_65": "ML_DSA_65",
    "ML_DSA_87": "ML_DSA_87",
}

_EKU_TYPES: Final[dict[str, ExtendedKeyUsageTypeType]] = {
    "serverAuth": "SERVER_AUTH",
    "clientAuth": "CLIENT_AUTH",
    "codeSigning": "CODE_SIGNING",
    "emailProtection": "EMAIL_PROTECTION",
    "timeStamping": "TIME_STAMPING",
}

PCA_REASONS: Final[dict[RevocationReason, RevocationReasonType]] = {
    RevocationReason.unspecified: "UNSPECIFIED",
    RevocationReason.keyCompromise: "KEY_COMPROMISE",
    RevocationReason.cACompromise: "CERTIFICATE_AUTHORITY_COMPROMISE",
    RevocationReason.affiliationChanged: "AFFILIATION_CHANGED",
    RevocationReason.superseded: "SUPERSEDED",
    RevocationReason.cessationOfOperation: "CESSATION_OF_OPERATION",
    RevocationReason.privilegeWithdrawn: "PRIVILEGE_WITHDRAWN",
    RevocationReason.aACompromise: "A_A_COMPROMISE",
}


def ca_arn_parts(name: str, arn: str) -> re.Match[str]:
    """The parts of a PCA CA ARN (partition, region, account, id): checked before any
    call, so that a typo is reported as such rather than as AWS's InvalidArnException."""
    match = _CA_ARN.fullmatch(arn)
    if match is None:
        raise BackendConfigError(
            f"CA backend {name}: ca_arn is not an AWS Private CA ARN "
            "(arn:aws:acm-pca:REGION:ACCOUNT:certificate-authority/ID)"
        )
    return match


def pca_serial(serial_number: int) -> str:
    """The serial as RevokeCertificate wants it: colon-separated lowercase hex bytes, the
    form ``openssl x509 -text`` prints (``0a:1b:...``), without a DER sign byte."""
    if serial_number < 0:
        raise BackendRefusedError("a certificate with a negative serial number cannot be revoked")
    data = serial_number.to_bytes(max(1, (serial_number.bit_length() + 7) // 8), "big")
    return data.hex(":")


def idempotency_token(order: CertificateOrder) -> str:
    """PCA issues one certificate per token within five minutes, so a retried submit (the
    service restarting, a timeout after PCA had accepted) does not issue twice. The CSR is
    part of it so that one request id can never collect a certificate for another key;
    32 hex characters fit PCA's limit of 36."""
    csr_der = order.csr.public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(order.request_id.encode() + b"\x00" + csr_der)
    return digest.hexdigest()[:32]


def validity_for(validity: timedelta, now: datetime) -> ValidityTypeDef:
    """Whole days as DAYS (counted by PCA from issuance); anything else as the END_DATE it
    means from the order's time (GeneralizedTime digits), since PCA has no hours unit."""
    seconds = int(validity.total_seconds())
    if seconds <= 0:
        raise BackendRefusedError("the order's validity is not positive")
    if seconds % 86400 == 0:
        return {"Value": seconds // 86400, "Type": "DAYS"}
    end = now.astimezone(UTC) + timedelta(seconds=seconds)
    return {"Value": int(end.strftime("%Y%m%d%H%M%S")), "Type": "END_DATE"}


def load_bundle(text: str | None) -> list[x509.Certificate]:
    if not text or not text.strip():
        return []
    return x509.load_pem_x509_certificates(text.encode())


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """Names chain and, where cryptography can check it, the signature verifies."""
    if child.issuer != parent.subject:
        return False
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    except UnsupportedAlgorithm:  # e.g. ML-DSA: the names have to do
        return True
    return True


def _self_issued(certificate: x509.Certificate) -> bool:
    return certificate.subject == certificate.issuer


def chain_above(
    certificate: x509.Certificate, pool: list[x509.Certificate]
) -> tuple[x509.Certificate, ...]:
    """The certificates from ``pool`` above ``certificate``, issuing CA first, root last.

    Built by following issuers rather than trusting the order AWS returns, which differs
    between GetCertificate and GetCertificateAuthorityCertificate."""
    chain: list[x509.Certificate] = []
    current = certificate
    while not _self_issued(current) and len(chain) < len(pool):
        parent = next((c for c in pool if c not in chain and _issued_by(current, c)), None)
        if parent is None:
            break
        chain.append(parent)
        current = parent
    return tuple(chain)


def complete(chain: tuple[x509.Certificate, ...]) -> bool:
    return bool(chain) and _self_issued(chain[-1])


def api_passthrough(backend: str, order: CertificateOrder) -> ApiPassthroughTypeDef:
    """The order's checked SANs and EKUs, for CSRs that do not carry them."""
    names: list[GeneralNameTypeDef] = []
    for name in order.names:
        try:
            names.append({"IpAddress": str(ipaddress.ip_address(name))})
        except ValueError:
            names.append({"DnsName": name})
    ekus: list[ExtendedKeyUsageTypeDef] = []
    for eku in order.ekus:
        if eku not in _EKU_TYPES:
            raise BackendRefusedError(
                f"CA backend {backend}: AWS Private CA has no extended key usage {eku!r}"
            )
        ekus.append({"ExtendedKeyUsageType": _EKU_TYPES[eku]})
    passthrough: ApiPassthroughTypeDef = {"Extensions": {}}
    if names:
        passthrough["Extensions"]["SubjectAlternativeNames"] = names
    if ekus:
        passthrough["Extensions"]["ExtendedKeyUsage"] = ekus
    return passthrough
