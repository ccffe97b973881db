"""The functions' PKI folders (``CERTSIGHT_PKI_DIR``), staged for Lambda layers: the
validation function's (CA certificates and the delegated OCSP signers) and the
publishing function's (CA certificates only).

The handler reads a local folder (responders/web/runtime.py: ``PkiLayout``): the two CA
certificates and the delegated OCSP signers, certificate and key. Lambda unpacks layers
under ``/opt``, so a layer holding ``certsight-pki/`` is that folder, read-only, in every
container, and versioned with the function: a new signer is a new layer version, hence
a new function version, hence a CodeDeploy canary with rollback like any code change.

What is staged is chosen by name and re-encoded from the parsed objects, never copied,
so pointing the source at a whole ``HOME/pki`` (which holds ``root-ca.key`` and
``issuing-ca.key``) still ships no CA key: a CA key file is never read, a signer
key that turns out to be a CA's key (its public key is a CA certificate's) is refused,
and a signer key must be the key of its own OCSP-signing, non-CA certificate.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from infra.assets import AssetError

# Where the layer's folder appears in the function (layers unpack under /opt).
PKI_DIR: Final = "/opt/certsight-pki"
CA_CERTIFICATES: Final = ("root-ca.pem", "issuing-ca.pem")
# (certificate, key) of the issuing CA's delegated signer, then the root's (optional:
# ``ca init`` makes one so that the issuing CA's own status can be asked).
SIGNER: Final = ("ocsp-signer.pem", "ocsp-signer.key")
ROOT_SIGNER: Final = ("root-ocsp-signer.pem", "root-ocsp-signer.key")


def stage_validation_pki(source: Path) -> Path:
    """A fresh folder holding ``certsight-pki/`` with the CA certificates and the
    delegated signers only; raises ``AssetError`` naming what is missing or wrong."""
    if not source.is_dir():
        raise AssetError(
            f"{source} is missing: put the validation PKI folder there (root-ca.pem, "
            "issuing-ca.pem, ocsp-signer.pem and ocsp-signer.key; root-ocsp-signer.* "
            "optional), e.g. a copy of HOME/pki: CA keys in it are never taken"
        )
    staged = Path(tempfile.mkdtemp(prefix="certsight-validation-pki-"))
    folder = staged / Path(PKI_DIR).name
    folder.mkdir()
    ca_keys: list[bytes] = []
    for name in CA_CERTIFICATES:
        certificate = _certificate(source / name, ca=True)
        ca_keys.append(_public_der(certificate.public_key()))
        (folder / name).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    pairs = [SIGNER]
    if (source / ROOT_SIGNER[0]).exists() or (source / ROOT_SIGNER[1]).exists():
        pairs.append(ROOT_SIGNER)
    for cert_name, key_name in pairs:
        certificate = _certificate(source / cert_name, ca=False)
        key = _signer_key(source / key_name, certificate, ca_keys)
        (folder / cert_name).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        (folder / key_name).write_bytes(key)
    return staged


def stage_ca_certificates(source: Path) -> Path | None:
    """A fresh folder holding ``certsight-pki/`` with the two CA certificates only, for
    the publishing function; None when ``source`` does not exist (the deployment has
    not been given its CA certificates yet)."""
    if not source.is_dir():
        return None
    staged = Path(tempfile.mkdtemp(prefix="certsight-ca-layer-"))
    folder = staged / Path(PKI_DIR).name
    folder.mkdir()
    for name in CA_CERTIFICATES:
        certificate = _certificate(source / name, ca=True)
        (folder / name).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return staged


def _certificate(path: Path, *, ca: bool) -> x509.Certificate:
    """The one certificate in ``path``: a CA's, or a delegated OCSP signer's. A file
    that also holds a private key is refused: whoever made it mixed up what is public."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AssetError(
            f"{path} is missing: put the deployment's {' and '.join(CA_CERTIFICATES)}"
            f"{'' if ca else ' and its OCSP signer'} there"
        ) from exc
    if b"PRIVATE KEY" in data:
        raise AssetError(f"{path} holds a private key next to its certificate: refused")
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise AssetError(f"{path} is not a PEM certificate ({exc})") from exc
    if len(certificates) != 1:
        raise AssetError(f"{path} holds {len(certificates)} certificates, not one")
    certificate = certificates[0]
    try:
        is_ca = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if is_ca != ca:
        raise AssetError(f"{path} is {'not ' if ca else ''}a CA certificate")
    if not ca:
        try:
            usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            usages = x509.ExtendedKeyUsage([])
        if ExtendedKeyUsageOID.OCSP_SIGNING not in usages:
            raise AssetError(f"{path} is not a delegated OCSP signer (no id-kp-OCSPSigning)")
    return certificate


def _signer_key(path: Path, certificate: x509.Certificate, ca_keys: list[bytes]) -> bytes:
    """The signer's key, re-encoded, after checking it is the certificate's and no CA's."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise AssetError(f"{path}: cannot read an unencrypted PEM private key ({exc})") from exc
    public = _public_der(key.public_key())
    if public in ca_keys:
        raise AssetError(f"{path} is a CA key: the validation function must never hold one")
    if public != _public_der(certificate.public_key()):
        raise AssetError(f"{path} is not the key of the signer certificate beside it")
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _public_der(key: object) -> bytes:
    public_bytes = getattr(key, "public_bytes", None)
    if public_bytes is None:
        raise AssetError(f"unsupported key type {type(key).__name__}")
    return bytes(
        public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
