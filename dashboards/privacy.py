"""Pseudonymous client addresses: OCSP traffic shows who relies on whom, so a client IP
is personal data wherever the reader has no need for it (management, exports).

A keyed hash (HMAC-SHA-256) rather than a plain one: IPv4 space is small enough to
hash exhaustively, so without the key anyone could reverse the pseudonyms. The same key
gives the same pseudonym everywhere, so exports can still be joined to each other.
"""

from __future__ import annotations

import hmac
import os
import secrets
from hashlib import sha256
from pathlib import Path

import pandas as pd

KEY_FILE = Path(".certsight") / "pseudonym.key"
CLIENT_COLUMNS = ("client_ip",)


def pseudonym(address: str, key: bytes) -> str:
    return "client-" + hmac.new(key, address.encode(), sha256).hexdigest()[:16]


def load_key(home: Path, key_env: str) -> bytes:
    """The key from the environment, else the home's key file, created on first use
    readable by its owner only."""
    from_env = os.environ.get(key_env)
    if from_env:
        return from_env.encode()
    path = home / KEY_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
    return key


def pseudonymise(table: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """A copy with every client-address column replaced by its pseudonym."""
    out = table.copy()
    for column in CLIENT_COLUMNS:
        if column in out.columns:
            out[column] = [
                None if value is None or pd.isna(value) else pseudonym(str(value), key)
                for value in out[column]
            ]
    return out
