"""Private keys: generation, signing parameters and files that only the owner can read."""

from __future__ import annotations

import enum
import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class KeyType(enum.StrEnum):
    ec_p256 = "ec-p256"
    rsa_2048 = "rsa-2048"


def generate_key(key_type: KeyType) -> SigningKey:
    if key_type is KeyType.ec_p256:
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def describe_key(key: object) -> str:
    """A short algorithm label for inventories: ``ec-p256``, ``rsa-2048``, ``ed25519``..."""
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return {"secp256r1": "ec-p256", "secp384r1": "ec-p384", "secp521r1": "ec-p521"}.get(
            key.curve.name, f"ec-{key.curve.name}"
        )
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return f"rsa-{key.key_size}"
    return type(key).__name__.removesuffix("PublicKey").removesuffix("PrivateKey").lower()


_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_SHA256 = hashes.SHA256()
_PKCS1V15 = padding.PKCS1v15()


def sign(key: SigningKey, data: bytes) -> bytes:
    """Sign with SHA-256: ECDSA for EC keys, PKCS#1 v1.5 for RSA (what OCSP clients accept)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, _ECDSA_SHA256)
    return key.sign(data, _PKCS1V15, _SHA256)


def write_private_key(path: Path, key: SigningKey) -> None:
    """Write a PEM key created with mode 0600, so it is never readable by others, even briefly."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def load_private_key(path: Path) -> SigningKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{path}: unsupported key type {describe_key(key)}")
    return key
