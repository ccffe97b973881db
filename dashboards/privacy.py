"""Pseudonymous client addresses: OCSP traffic shows who relies on whom, so a client IP
is personal data wherever the reader has no need for it (management, exports).

A keyed hash (HMAC-SHA-256) rather than a plain one: IPv4 space is small enough to
hash exhaustively, so without the key anyone could reverse the pseudonyms. The same key
gives the same pseudonym everywhere, so exports can still be joined to each other.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
import secrets
import time
from collections.abc import Mapping
from hashlib import sha256
from pathlib import Path

import pandas as pd

KEY_FILE = Path(".certsight") / "pseudonym.key"
PSEUDONYM_PATTERN = r"client-[0-9a-f]{16}"
"""What every pseudonym looks like, whole: LAKE retention (``certsight lake retain``)
replaces only values that do not, so a pseudonym is never pseudonymised again."""
CLIENT_COLUMNS = ("client_ip",)
# Identifiers derived from a client address (alert_key is md5 of detector, client and
# server): as good as the address to anyone who hashes the address space, so they are
# keyed too.
DERIVED_COLUMNS = ("alert_key",)
# A spreadsheet runs a cell that starts like a formula; log text (User-Agents, hosts)
# must not. Prefixing a quote is the usual defence (OWASP, "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def pseudonym(address: str, key: bytes) -> str:
    return "client-" + hmac.new(key, address.encode(), sha256).hexdigest()[:16]


def is_pseudonym(value: str) -> bool:
    return _PSEUDONYM.fullmatch(value) is not None


_PSEUDONYM = re.compile(PSEUDONYM_PATTERN)
_IPV4 = r"(?:\d{1,3}\.){3}\d{1,3}"
# Candidates only (``ipaddress`` decides): dotted quads (a port may follow), and runs of
# hex groups with at least two colons, perhaps ending in a dotted quad (::ffff:192.0.2.1)
# or a zone (%eth0). Not the end of a word ("std::vector" holds none) but after a digit
# (a percent-encoded "%20" before the address); "12:30:45" is a candidate ipaddress refuses.
_ADDRESS_LITERAL = re.compile(
    rf"(?<![A-Za-z_.:])(?:{_IPV4}(?!\w|\.\d)"
    rf"|(?:[0-9A-Fa-f]{{0,4}}:){{2,7}}(?:{_IPV4}|[0-9A-Fa-f]{{1,4}})?(?:%[\w.]+)?(?![\w:]))"
)


def pseudonymise_text(text: str, key: bytes) -> str:
    """Free text (a quarantined record as read, an alert's evidence) with every IPv4 and
    IPv6 address in it replaced by its pseudonym. Anything that reads as an address is
    replaced, a version number like 17.0.9.1 too: keeping a client's address would be
    the worse mistake. Pseudonyms hold no address, so a second pass changes nothing."""

    def replace(found: re.Match[str]) -> str:
        literal = found.group(0)
        try:
            address = ipaddress.ip_address(literal)
        except ValueError:
            return literal
        # "::" and 0.0.0.0 name no host (and "::" is punctuation in prose)
        return literal if address.is_unspecified else pseudonym(literal, key)

    return _ADDRESS_LITERAL.sub(replace, text)


def load_key(home: Path, key_env: str, environ: Mapping[str, str] = os.environ) -> bytes:
    """The key from the environment variable ``key_env`` (``[privacy] key_env``), else
    the home's key file, created on first use readable by its owner only. ``environ``
    is the caller's view of the environment (certsight passes the one it read)."""
    from_env = environ.get(key_env)
    if from_env:
        return from_env.encode()
    path = home / KEY_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process (dashboard, report round) made it first
        return _written_key(path)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
    return key


def _written_key(path: Path) -> bytes:
    """The key another process is writing: a few tries while the file is still empty."""
    for _ in range(50):
        key = path.read_bytes().strip()
        if key:
            return key
        time.sleep(0.01)
    raise RuntimeError(f"{path} stays empty: remove it and retry")


def pseudonymise(table: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """A copy with every client-address column (and identifiers derived from one)
    replaced by its pseudonym."""
    out = table.copy()
    for column in (*CLIENT_COLUMNS, *DERIVED_COLUMNS):
        if column in out.columns:
            out[column] = [
                None if value is None or pd.isna(value) else pseudonym(str(value), key)
                for value in out[column]
            ]
    return out


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def safe_csv(table: pd.DataFrame) -> bytes:
    """CSV of a table for spreadsheets: text that would start a formula is quoted."""
    text_columns = [
        c for c in table.columns if table[c].dtype == object or str(table[c].dtype) == "str"
    ]
    out = table.copy()
    for column in text_columns:
        out[column] = out[column].map(_cell)
    return out.to_csv(index=False).encode()
