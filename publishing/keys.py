"""The TUF signing keys: Ed25519, one per role, as PKCS#8 PEM files (mode 0600).

``root.offline.key`` signs only root metadata (a new root, a key rotation, a root about
to expire): its name says it belongs on offline media once the repository is made, and
every other operation works without it. ``targets.key``, ``snapshot.key`` and
``timestamp.key`` are the online keys the publishing job uses. A missing online key, or
a root key needed while it is away, is a :class:`KeyFileError` naming the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.signer import CryptoSigner, SSlibKey

ROLES = ("root", "targets", "snapshot", "timestamp")
ONLINE_ROLES = ROLES[1:]


class KeyFileError(RuntimeError):
    """A signing key is missing or unreadable; the message names the file."""


def key_file(folder: Path, role: str) -> Path:
    return folder / ("root.offline.key" if role == "root" else f"{role}.key")


def _write_private(path: Path, key: Ed25519PrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())


def signer_from_file(path: Path) -> CryptoSigner:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise KeyFileError(f"no signing key at {path}") from None
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"cannot read the signing key {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 key")
    return CryptoSigner(key, SSlibKey.from_crypto(key.public_key()))


@dataclass(frozen=True)
class KeyFolder:
    folder: Path

    def exists(self) -> bool:
        return all(key_file(self.folder, role).exists() for role in ONLINE_ROLES)

    def create(self) -> dict[str, CryptoSigner]:
        """New keys for every role; refuses to overwrite any existing key file."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        signers = {}
        for role in ROLES:
            path = key_file(self.folder, role)
            try:
                _write_private(path, Ed25519PrivateKey.generate())
            except FileExistsError:
                raise KeyFileError(f"{path} exists: refusing to replace a signing key") from None
            signers[role] = signer_from_file(path)
        return signers

    def signer(self, role: str) -> CryptoSigner:
        if role == "root" and not key_file(self.folder, role).exists():
            raise KeyFileError(
                f"the root key is offline (no {key_file(self.folder, role)}): bring it back "
                "to sign a new root"
            )
        return signer_from_file(key_file(self.folder, role))
