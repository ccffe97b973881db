"""Key, certificate and chain installed as one set, so a reader never pairs a new
certificate with an old key (certbot's symlink swap can tear, certbot#9900; step
rewrites files in place).

    DIR/versions/{stamp}-{serial}/key.pem        0600, written first
                                  cert.pem, chain.pem, fullchain.pem
                                  cert.p12     (optional, 0600)
    DIR/current  -> versions/...   swapped last, by renaming a temporary link over it
    DIR/previous -> versions/...   the set before, for ``rollback``

A new set is written into a hidden staging folder (each file: temporary name, fsync,
rename; the key first), the folder fsynced and renamed to its version name, and only
then is ``current`` swapped. A crash at any point before the swap leaves ``current`` on
the old, complete set; the leftovers are removed at the next install.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from certsight_agent.clock import now
from certsight_agent.fsutil import fsync_dir, swap_symlink, write_atomic

KEY, CERT, CHAIN, FULLCHAIN, P12 = "key.pem", "cert.pem", "chain.pem", "fullchain.pem", "cert.p12"
STAGING_PREFIX = ".staging-"


@dataclass(frozen=True)
class CertSet:
    key_pem: bytes
    cert_pem: str
    chain_pem: str
    p12: bytes | None = None


def versions_dir(out: Path) -> Path:
    return out / "versions"


def install(out: Path, new: CertSet, serial: str) -> Path:
    """Write ``new`` as a version of its own, then point ``current`` at it."""
    versions = versions_dir(out)
    versions.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=versions))
    write_atomic(staging / KEY, new.key_pem, mode=0o600)  # first: never a cert without it
    cert = _pem_block(new.cert_pem)
    chain = "".join(_pem_block(block) for block in _split(new.chain_pem))
    write_atomic(staging / CERT, cert.encode())
    write_atomic(staging / CHAIN, chain.encode())
    write_atomic(staging / FULLCHAIN, (cert + chain).encode())
    if new.p12 is not None:
        write_atomic(staging / P12, new.p12, mode=0o600)
    os.chmod(staging, 0o755)  # noqa: S103 - the key is 0600; services read the certificate
    fsync_dir(staging)
    name = f"{now().strftime('%Y%m%dT%H%M%SZ')}-{serial}"
    final = versions / name
    os.rename(staging, final)
    fsync_dir(versions)
    old = current_target(out)
    if old is not None:
        swap_symlink(out / "previous", old)
    swap_symlink(out / "current", f"versions/{name}")  # last: the set becomes visible
    _prune(out)
    return final


def current_target(out: Path) -> str | None:
    try:
        return os.readlink(out / "current")
    except OSError:
        return None


def current_certificate(out: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate((out / "current" / CERT).read_bytes())
    except (OSError, ValueError):
        return None


def rollback(out: Path) -> str:
    """Swap ``current`` and ``previous``: the set before becomes current again (and
    running ``rollback`` twice returns to where it was)."""
    try:
        before = os.readlink(out / "previous")
    except OSError:
        raise FileNotFoundError(f"{out} has no previous set to roll back to") from None
    if not (out / before).is_dir():
        raise FileNotFoundError(f"the previous set {before} is gone")
    now_current = current_target(out)
    if now_current is not None:
        swap_symlink(out / "previous", now_current)
    swap_symlink(out / "current", before)
    return before


def _prune(out: Path) -> None:
    """Keep the current and previous sets; remove older ones and a crashed install's
    staging folders."""
    keep = {Path(t).name for t in (current_target(out), _previous(out)) if t}
    for entry in versions_dir(out).iterdir():
        if entry.name not in keep:
            shutil.rmtree(entry, ignore_errors=True)


def _previous(out: Path) -> str | None:
    try:
        return os.readlink(out / "previous")
    except OSError:
        return None


def _split(pem: str) -> list[str]:
    marker = "-----END CERTIFICATE-----"
    return [part + marker for part in pem.split(marker) if "-----BEGIN" in part]


def _pem_block(pem: str) -> str:
    return pem.strip() + "\n"


def serial_hex(serial: int) -> str:
    """The issuance API's spelling of a serial: lowercase hex, an even number of digits
    (DER content octets), which is how it names certificates in its URLs."""
    digits = format(serial, "x")
    return digits if len(digits) % 2 == 0 else "0" + digits
