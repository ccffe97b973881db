"""Issue and revoke as a CA operator does: certificate files, store, and an event in RAW.

The event records (``raw/issuance/``) are how the LAKE learns of issuance and
revocation, the same way it learns of validations from the responders' logs.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from issuance.events import certificate_event
from issuance.signers import open_issuing_signer
from pki.certificates import IssuedCertificate, issue_certificate, record_for_certificate
from pki.keys import KeyType, generate_key, write_private_key
from pki.layout import PkiLayout
from pki.pem import load_csr, load_pem_certificate
from pki.rawlog import write_batch_files
from pki.reasons import ReasonError, RevocationReason
from pki.store.base import CertificateNotFoundError, CertificateRecord, CertificateStore

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class AmbiguousSerialError(LookupError):
    """The serial exists under several issuers; the caller must say which."""


@dataclass(frozen=True)
class IssuedFiles:
    issued: IssuedCertificate
    certificate: Path
    key: Path | None
    chain: Path


def file_stem(common_name: str) -> str:
    """A file name from a CN: ``*.example.com`` becomes ``wildcard.example.com``."""
    stem = _UNSAFE.sub("_", common_name.replace("*", "wildcard")).strip("._")
    return stem or "certificate"


def _requester() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def issue_to_files(
    *,
    layout: PkiLayout,
    store: CertificateStore,
    raw_dir: Path,
    clock: Callable[[], datetime],
    common_name: str,
    sans: list[str],
    days: int,
    out_dir: Path,
    csr_path: Path | None = None,
    key_type: KeyType | None = None,
    requester: str | None = None,
) -> IssuedFiles:
    config = layout.read_config()
    issuing_cert = load_pem_certificate(layout.issuing_cert)
    issuing_key = open_issuing_signer(layout)
    now = clock()
    stem = file_stem(common_name)
    cert_path, key_path, chain_path = (
        out_dir / f"{stem}.pem",
        out_dir / f"{stem}.key",
        out_dir / f"{stem}.chain.pem",
    )
    csr = load_csr(csr_path) if csr_path else None
    new_key = None if csr else generate_key(key_type or config.key_type)
    # Refuse before signing anything: a key file must never be silently replaced.
    for path in (cert_path, chain_path, *(() if csr else (key_path,))):
        if path.exists():
            raise FileExistsError(f"{path} exists; choose another --out or remove it")
    issued = issue_certificate(
        common_name=common_name,
        sans=sans,
        days=days,
        issuing_cert=issuing_cert,
        issuing_key=issuing_key,
        config=config,
        now=now,
        public_key=None if new_key is None else new_key.public_key(),
        csr=csr,
        requester=_requester() if requester is None else requester,
    )
    store.add(issued.record)
    out_dir.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    if new_key is not None:
        write_private_key(key_path, new_key)
    leaf = issued.certificate.public_bytes(pem)
    cert_path.write_bytes(leaf)
    chain_path.write_bytes(leaf + layout.chain.read_bytes())
    write_batch_files(raw_dir / "issuance", [issuance_event(issued)], now)
    return IssuedFiles(issued, cert_path, None if csr else key_path, chain_path)


def revoke_serial(
    *,
    store: CertificateStore,
    raw_dir: Path,
    clock: Callable[[], datetime],
    serial: str,
    reason: RevocationReason,
    issuer_key_sha1: str | None = None,
) -> CertificateRecord:
    if reason is RevocationReason.removeFromCRL:
        raise ReasonError("removeFromCRL is only for delta CRLs, not a reason to revoke")
    found = find_certificate(store, serial, issuer_key_sha1)
    now = clock()
    record = store.revoke(found.issuer_key_sha1, serial, now, reason)
    write_batch_files(raw_dir / "issuance", [revocation_event(record)], now)
    return record


def find_certificate(
    store: CertificateStore, serial: str, issuer_key_sha1: str | None = None
) -> CertificateRecord:
    """The one certificate a serial (and, when given, an issuer) names on the command line:
    ``CertificateNotFoundError`` when none, ``AmbiguousSerialError`` when several CAs used
    the serial and no issuer was given."""
    candidates = [
        r
        for r in store.find_serial(serial)
        if issuer_key_sha1 is None or r.issuer_key_sha1 == issuer_key_sha1
    ]
    if not candidates:
        raise CertificateNotFoundError(f"no certificate with serial {serial} in the store")
    if len(candidates) > 1:
        issuers = ", ".join(r.issuer_key_sha1 for r in candidates)
        raise AmbiguousSerialError(
            f"serial {serial} exists under several issuers ({issuers}); pass --issuer"
        )
    return candidates[0]


def issuance_event(issued: IssuedCertificate) -> dict[str, Any]:
    pem = issued.certificate.public_bytes(serialization.Encoding.PEM).decode()
    return certificate_event("issued", issued.record, certificate_pem=pem)


def revocation_event(record: CertificateRecord) -> dict[str, Any]:
    return certificate_event("revoked", record)


def register_ca_material(
    *, layout: PkiLayout, store: CertificateStore, raw_dir: Path, now: datetime
) -> list[CertificateRecord]:
    """Put the issuing CA and the OCSP signers in the inventory, like any other certificate:
    the root can then answer for the issuing CA, and reports count them."""
    root = load_pem_certificate(layout.root_cert)
    issuing = load_pem_certificate(layout.issuing_cert)
    signer = load_pem_certificate(layout.signer_cert)
    issued = [
        IssuedCertificate(
            issuing, record_for_certificate(issuing, root, profile="sub-ca", now=now)
        ),
        IssuedCertificate(
            signer, record_for_certificate(signer, issuing, profile="ocsp-signer", now=now)
        ),
    ]
    if layout.root_signer_cert.exists():
        root_signer = load_pem_certificate(layout.root_signer_cert)
        issued.append(
            IssuedCertificate(
                root_signer,
                record_for_certificate(root_signer, root, profile="ocsp-signer", now=now),
            )
        )
    for item in issued:
        store.add(item.record)
    write_batch_files(raw_dir / "issuance", [issuance_event(item) for item in issued], now)
    return [item.record for item in issued]
