"""Serve each CA's CRL as the issuance module's CRL updater stored it.

The validation module is internet-facing and mission-critical, so it holds no CA key
and never signs: it reads the bytes the updater signed (``pki.store.crls``), checks
that they are a CRL of a CA it serves, and keeps them in memory. Whether the stored CRL
changed is asked at most once per ``recheck`` (a stat on a folder, a HEAD on S3), so a
revocation reaches clients within the updater's reaction time plus ``recheck``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509

from pki.identity import key_sha1
from pki.store.base import StoreError
from pki.store.crls import CrlStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServedCrl:
    der: bytes
    number: int
    this_update: datetime
    next_update: datetime
    etag: str
    issuer_key_sha1: str
    # How long a cache may keep it: until nextUpdate, but no longer than ``max_age``
    # from thisUpdate, so CDNs pick up a revocation within the updater's refresh period.
    fresh_until: datetime


@dataclass(frozen=True)
class CrlServerSettings:
    recheck: timedelta = timedelta(seconds=1)
    max_age: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.recheck <= timedelta(0) or self.max_age <= timedelta(0):
            raise ValueError("CRL recheck and max-age must be positive")


class CrlServer:
    """The current CRL per CA name, from the CRL store; ``None`` where there is none."""

    def __init__(
        self,
        issuers: Iterable[tuple[str, x509.Certificate]],
        store: CrlStore,
        clock: Callable[[], datetime],
        settings: CrlServerSettings | None = None,
    ) -> None:
        self._issuers = dict(issuers)
        self._store = store
        self._clock = clock
        self._settings = settings or CrlServerSettings()
        self._current: dict[str, tuple[str, ServedCrl]] = {}  # name -> (version, CRL)
        self._checked: dict[str, datetime] = {}
        self._lock = threading.Lock()
        # Servers that refresh off the request path (the ASGI app, whose event loop must
        # never wait for S3) turn this off: ``current`` then only reads memory.
        self.refresh_on_read = True

    @property
    def names(self) -> list[str]:
        return list(self._issuers)

    def current(self, name: str) -> ServedCrl | None:
        if name not in self._issuers:
            return None
        if self.refresh_on_read:
            checked = self._checked.get(name)
            if checked is None or self._clock() - checked >= self._settings.recheck:
                self.refresh(name)
        held = self._current.get(name)
        return held[1] if held else None

    def refresh(self, name: str) -> None:
        """Load the stored CRL if it changed; on a store fault keep serving what we have
        (a CRL carries its own nextUpdate, so clients judge its freshness themselves)."""
        with self._lock:
            self._checked[name] = self._clock()
            held = self._current.get(name)
            try:
                version = self._store.version(name)
                if version is None or (held is not None and held[0] == version):
                    return
                stored = self._store.get(name)
            except StoreError as exc:
                log.warning("CRL store %s unreadable for %s: %s", self._store.location, name, exc)
                return
            if stored is None:
                return
            try:
                served = self._check(name, stored.der)
            except ValueError as exc:
                log.error("refusing stored CRL %s from %s: %s", name, self._store.location, exc)
                return
            if held is not None and served.number < held[1].number:
                # Two updaters racing, or an old object version restored: serving it would
                # drop revocations that the CRL in service lists (RFC 5280 5.2.3).
                log.error(
                    "refusing stored CRL %s #%d from %s: CRL #%d is in service already",
                    name,
                    served.number,
                    self._store.location,
                    held[1].number,
                )
                return
            if served.next_update <= self._clock():
                log.warning(
                    "stored CRL %s #%d is past its nextUpdate (%s): is the CRL updater running?",
                    name,
                    served.number,
                    served.next_update.isoformat(),
                )
            self._current[name] = (stored.version, served)
            log.info("serving CRL %s #%d", name, served.number)

    def _check(self, name: str, der: bytes) -> ServedCrl:
        crl = x509.load_der_x509_crl(der)
        issuer = self._issuers[name]
        if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
            raise ValueError("not signed by the CA of that name")
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        this_update = crl.last_update_utc
        next_update = crl.next_update_utc
        if next_update is None:
            raise ValueError("no nextUpdate")
        return ServedCrl(
            der=der,
            number=number,
            this_update=this_update,
            next_update=next_update,
            etag='"' + hashlib.sha256(der).hexdigest()[:32] + '"',
            issuer_key_sha1=key_sha1(issuer),
            fresh_until=min(next_update, this_update + self._settings.max_age),
        )
