"""Keeps each CA's CRL current: rebuilt when a revocation lands and on a schedule.

The CRL number comes from the store, so it keeps increasing across restarts and
across every process that publishes (RFC 5280 5.2.3). Each CRL is also written
to ``pki/crl/<ca>.crl`` for publication elsewhere (S3, a CDN origin).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509

from responders.crl.builder import BuiltCrl, build_crl
from responders.pki.identity import key_sha1
from responders.pki.keys import SigningKey
from responders.store.base import CertificateStore

log = logging.getLogger(__name__)

SETTLE = timedelta(seconds=5)


@dataclass(frozen=True)
class CrlIssuer:
    name: str  # the file stem in the distribution point URL: /crl/<name>.crl
    cert: x509.Certificate
    key: SigningKey


@dataclass(frozen=True)
class PublishedCrl:
    crl: BuiltCrl
    etag: str
    rebuild_at: datetime
    issuer_key_sha1: str


@dataclass(frozen=True)
class CrlSettings:
    refresh: timedelta = timedelta(hours=1)
    validity: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if not timedelta(0) < self.refresh < self.validity:
            raise ValueError("CRL refresh interval must be positive and shorter than its validity")


class CrlService:
    def __init__(
        self,
        issuers: Iterable[CrlIssuer],
        store: CertificateStore,
        clock: Callable[[], datetime],
        settings: CrlSettings | None = None,
        publish_dir: Path | None = None,
    ) -> None:
        self._issuers = {issuer.name: issuer for issuer in issuers}
        self._by_key = {key_sha1(i.cert): name for name, i in self._issuers.items()}
        self._store = store
        self._clock = clock
        self._settings = settings or CrlSettings()
        self._publish_dir = publish_dir
        self._current: dict[str, PublishedCrl] = {}
        self._dirty: set[str] = set(self._issuers)
        self._settle: dict[str, datetime] = {}
        self._lock = threading.Lock()
        # Set by servers that rebuild due CRLs off the request path (the ASGI app): a
        # request then gets the current CRL at once instead of waiting for a rebuild.
        self.rebuilt_in_background = False

    @property
    def names(self) -> list[str]:
        return list(self._issuers)

    def mark_changed(self, issuer_key_sha1: str) -> None:
        """Rebuild now, and once more after ``SETTLE``: a store whose revoked-list index is
        eventually consistent (DynamoDB GSIs) may not list a revocation at once."""
        name = self._by_key.get(issuer_key_sha1)
        if name is not None:
            self._dirty.add(name)
            self._settle[name] = self._clock() + SETTLE

    def due(self) -> list[str]:
        """CRLs to rebuild now: changed, never built, or past their refresh time."""
        now = self._clock()
        for name, deadline in list(self._settle.items()):
            if now >= deadline:
                del self._settle[name]
                self._dirty.add(name)
        return [
            name
            for name in self._issuers
            if name in self._dirty
            or name not in self._current
            or now >= self._current[name].rebuild_at
        ]

    def current(self, name: str) -> PublishedCrl | None:
        """The CRL to serve, rebuilt first if due; ``None`` for a CA we do not publish."""
        if name not in self._issuers:
            return None
        current = self._current.get(name)
        if current is None or (not self.rebuilt_in_background and name in self.due()):
            current = self.rebuild(name)
        return current

    def rebuild(self, name: str) -> PublishedCrl:
        with self._lock:
            issuer = self._issuers[name]
            self._dirty.discard(name)
            now = self._clock().replace(microsecond=0)
            built = build_crl(
                ca_cert=issuer.cert,
                ca_key=issuer.key,
                revoked=self._store.revoked(key_sha1(issuer.cert)),
                number=self._store.next_crl_number(key_sha1(issuer.cert)),
                this_update=now,
                next_update=now + self._settings.validity,
            )
            published = PublishedCrl(
                crl=built,
                etag='"' + hashlib.sha256(built.der).hexdigest()[:32] + '"',
                rebuild_at=now + self._settings.refresh,
                issuer_key_sha1=key_sha1(issuer.cert),
            )
            self._current[name] = published
            self._publish(name, built)
            log.info("CRL %s #%d built with %d entries", name, built.number, built.entries)
            return published

    def _publish(self, name: str, built: BuiltCrl) -> None:
        if self._publish_dir is None:
            return
        self._publish_dir.mkdir(parents=True, exist_ok=True)
        temporary = self._publish_dir / f".{name}.crl.{os.getpid()}.tmp"
        temporary.write_bytes(built.der)
        os.replace(temporary, self._publish_dir / f"{name}.crl")
