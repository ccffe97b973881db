"""``certsight ca init``: a two-tier hierarchy (offline-style root, issuing CA) and a
delegated OCSP signer (RFC 6960 4.2.2.2: id-kp-OCSPSigning, plus id-pkix-ocsp-nocheck
so clients do not recurse into checking the signer's own status).

The issuing CA's key is generated into a file, or is a key in AWS KMS that the root
certifies (``issuing_signer``); ``ca.json`` then names that key instead of a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from issuance.signers import KmsSigner
from pki.extensions import signing_key_usage
from pki.keys import KeyType, SigningKey, generate_key, write_private_key
from pki.layout import ROOT_NAME, CaConfig, PkiLayout

SIGNER_VALIDITY = timedelta(days=365)


class CaExistsError(Exception):
    """``ca init`` never overwrites CA material."""


@dataclass(frozen=True)
class CaMaterial:
    root_cert: x509.Certificate
    issuing_cert: x509.Certificate
    signer_cert: x509.Certificate


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _random_serial() -> int:
    # 16 random octets, top bit cleared: positive, unpredictable, within 20 octets.
    return int.from_bytes(os.urandom(16), "big") >> 1


def _ca_certificate(
    *,
    subject: x509.Name,
    public_key: SigningKey,
    issuer_cert: x509.Certificate | None,
    issuer_key: SigningKey,
    path_length: int,
    now: datetime,
    days: int,
    config: CaConfig,
) -> x509.Certificate:
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert else subject)
        .public_key(public_key.public_key())
        .serial_number(_random_serial())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            signing_key_usage(certifies=True),
            critical=True,
        )
        .add_extension(ski, critical=False)
    )
    if issuer_cert is None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        ).add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(config.crl_url(ROOT_NAME))],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def issue_ocsp_signer(
    *,
    issuing_cert: x509.Certificate,
    issuing_key: SigningKey,
    signer_key: SigningKey,
    now: datetime,
    organization: str = "certsight",
    validity: timedelta = SIGNER_VALIDITY,
    common_name: str = "certsight OCSP Signer",
) -> x509.Certificate:
    """A delegated responder certificate; short-lived by design since nocheck means
    clients cannot learn of its revocation."""
    return (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization))
        .issuer_name(issuing_cert.subject)
        .public_key(signer_key.public_key())
        .serial_number(_random_serial())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            signing_key_usage(),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuing_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(issuing_key, hashes.SHA256())
    )


def init_ca(
    layout: PkiLayout,
    *,
    base_url: str,
    key_type: KeyType,
    now: datetime,
    organization: str = "certsight",
    issuing_signer: KmsSigner | None = None,
) -> CaMaterial:
    """Create every file of the hierarchy, or refuse if any CA material exists.

    With ``issuing_signer`` the issuing CA's key is that KMS key: the root certifies
    its public key, it signs the OCSP signer's certificate, ``ca.json`` records where
    it is, and no ``issuing-ca.key`` is written. Other keys follow ``key_type``.
    """
    if layout.exists() or layout.root_cert.exists():
        raise CaExistsError(f"a CA already exists under {layout.root}; refusing to overwrite it")
    config = CaConfig(
        base_url=base_url.rstrip("/"),
        key_type=key_type,
        issuing_kms_key_id=None if issuing_signer is None else issuing_signer.key_id,
        kms_region=None if issuing_signer is None else issuing_signer.region,
        kms_endpoint_url=None if issuing_signer is None else issuing_signer.endpoint_url,
    )
    layout.root.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.root, 0o700)

    root_key = generate_key(key_type)
    root_cert = _ca_certificate(
        subject=_name("certsight Root CA", organization),
        public_key=root_key,
        issuer_cert=None,
        issuer_key=root_key,
        path_length=1,
        now=now,
        days=3650,
        config=config,
    )
    issuing_key: SigningKey = (
        issuing_signer if issuing_signer is not None else generate_key(key_type)
    )
    issuing_cert = _ca_certificate(
        subject=_name("certsight Issuing CA 1", organization),
        public_key=issuing_key,
        issuer_cert=root_cert,
        issuer_key=root_key,
        path_length=0,
        now=now,
        days=1825,
        config=config,
    )
    signer_key = generate_key(key_type)
    signer_cert = issue_ocsp_signer(
        issuing_cert=issuing_cert,
        issuing_key=issuing_key,
        signer_key=signer_key,
        now=now,
        organization=organization,
    )

    # The root's own delegated signer answers for the issuing CA's status, so that the
    # responder never needs the root key (RFC 6960 4.2.2.2: one signer per issuing CA).
    root_signer_key = generate_key(key_type)
    root_signer_cert = issue_ocsp_signer(
        issuing_cert=root_cert,
        issuing_key=root_key,
        signer_key=root_signer_key,
        now=now,
        organization=organization,
        common_name="certsight Root OCSP Signer",
    )

    write_private_key(layout.root_key, root_key)
    if issuing_signer is None:
        write_private_key(layout.issuing_key, issuing_key)
    write_private_key(layout.signer_key, signer_key)
    write_private_key(layout.root_signer_key, root_signer_key)
    pem = serialization.Encoding.PEM
    layout.root_cert.write_bytes(root_cert.public_bytes(pem))
    layout.issuing_cert.write_bytes(issuing_cert.public_bytes(pem))
    layout.signer_cert.write_bytes(signer_cert.public_bytes(pem))
    layout.root_signer_cert.write_bytes(root_signer_cert.public_bytes(pem))
    layout.chain.write_bytes(issuing_cert.public_bytes(pem) + root_cert.public_bytes(pem))
    layout.crl_dir.mkdir(exist_ok=True)
    # Written last: its presence is what marks the CA as complete.
    layout.config.write_text(config.to_json())
    return CaMaterial(root_cert=root_cert, issuing_cert=issuing_cert, signer_cert=signer_cert)
