"""The storage boundary: one interface, one file per backend (SQLite, DynamoDB).

The responders never know which backend they read; they get a ``CertificateStore``
passed in. A backend that cannot answer raises ``StoreUnavailableError``, which
the OCSP responder turns into ``tryLater`` (RFC 6960 4.2.1) rather than a 5xx.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from pki.reasons import RevocationReason


class CertStatus(enum.StrEnum):
    good = "good"
    revoked = "revoked"


class StoreError(Exception):
    """Base of the store's named errors."""


class StoreUnavailableError(StoreError):
    """The backend could not be reached or did not answer in time."""


class CertificateNotFoundError(StoreError):
    pass


class CertificateExistsError(StoreError):
    pass


class AlreadyRevokedError(StoreError):
    pass


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    """One certificate under management, keyed by (issuer_key_sha1, serial)."""

    issuer_key_sha1: str
    serial: str
    subject: str
    sans: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    profile: str
    key_algorithm: str = ""
    requester: str = ""
    issued_at: datetime | None = None
    status: CertStatus = CertStatus.good
    revoked_at: datetime | None = None
    revocation_reason: RevocationReason | None = None
    ca_backend: str = "internal"
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.status is CertStatus.revoked and self.revoked_at is None:
            raise ValueError("a revoked certificate needs a revocation time")
        if self.status is CertStatus.good and self.revoked_at is not None:
            raise ValueError("a good certificate cannot carry a revocation time")
        for stamp in (self.not_before, self.not_after, self.issued_at, self.revoked_at):
            if stamp is not None and stamp.tzinfo is None:
                raise ValueError("store timestamps must be timezone-aware (UTC)")

    def revoked(self, when: datetime, reason: RevocationReason) -> CertificateRecord:
        return replace(self, status=CertStatus.revoked, revoked_at=when, revocation_reason=reason)


@dataclass(frozen=True, slots=True)
class Change:
    """A write to the store, in order: lets long-running readers drop stale caches."""

    sequence: int
    issuer_key_sha1: str
    serial: str


class CertificateStore(Protocol):
    def add(self, record: CertificateRecord) -> None:
        """Record a newly issued certificate; ``CertificateExistsError`` if the key is taken."""

    def get(self, issuer_key_sha1: str, serial: str) -> CertificateRecord | None:
        """The certificate or ``None``; never a stale answer older than the last write."""

    def find_serial(self, serial: str) -> Sequence[CertificateRecord]:
        """Every certificate with this serial, across issuers (serials are unique per issuer)."""

    def revoke(
        self, issuer_key_sha1: str, serial: str, when: datetime, reason: RevocationReason
    ) -> CertificateRecord:
        """Mark revoked; ``CertificateNotFoundError`` / ``AlreadyRevokedError`` otherwise."""

    def revoked(self, issuer_key_sha1: str) -> Iterator[CertificateRecord]:
        """All revoked certificates of one issuer: the CRL's entries."""

    def changes_since(self, sequence: int) -> Sequence[Change]:
        """Writes after ``sequence``, oldest first; pass the last one's sequence next time."""

    def next_crl_number(self, issuer_key_sha1: str) -> int:
        """A strictly increasing CRL number per issuer, shared by every process (RFC 5280 5.2.3)."""

    def close(self) -> None: ...
