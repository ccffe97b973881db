"""The CRL updater: signs each CA's CRL and stores the bytes where the responders read them.

Boulder's crl-updater split: the only process that holds CA keys for CRLs is this job,
which runs beside issuance (``certsight crl update --watch`` under ``certsight serve``
locally, a scheduled Lambda in AWS). A CRL is rebuilt when a revocation of its CA lands
in the store's change log, when it was never built, and before its refresh time.

The CRL number comes from the store, so it keeps increasing across restarts and across
every process that updates (RFC 5280 5.2.3).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509

from issuance.signers import open_issuing_signer
from pki.crl import BuiltCrl, build_crl
from pki.identity import key_sha1
from pki.keys import SigningKey, load_private_key
from pki.layout import ISSUING_NAME, ROOT_NAME, PkiLayout
from pki.pem import load_pem_certificate
from pki.store.base import CertificateStore
from pki.store.crls import CrlStore
from pki.store.feed import ChangeFeed

log = logging.getLogger(__name__)

# A store whose revoked-list index is eventually consistent (DynamoDB GSIs) may not list
# a revocation at once: a changed CRL is built again this long after the change.
SETTLE = timedelta(seconds=5)


@dataclass(frozen=True)
class CrlIssuer:
    name: str  # the file stem in the distribution point URL: /crl/<name>.crl
    cert: x509.Certificate
    key: SigningKey


@dataclass(frozen=True)
class CrlSettings:
    refresh: timedelta = timedelta(hours=1)
    validity: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if not timedelta(0) < self.refresh < self.validity:
            raise ValueError("CRL refresh interval must be positive and shorter than its validity")


class CrlUpdater:
    def __init__(
        self,
        issuers: Iterable[CrlIssuer],
        store: CertificateStore,
        crls: CrlStore,
        clock: Callable[[], datetime],
        settings: CrlSettings | None = None,
    ) -> None:
        self._issuers = {issuer.name: issuer for issuer in issuers}
        if not self._issuers:
            raise ValueError("the CRL updater needs at least one CA with its key")
        self._by_key = {key_sha1(i.cert): name for name, i in self._issuers.items()}
        self._store = store
        self._crls = crls
        self._clock = clock
        self._settings = settings or CrlSettings()
        self._built: dict[str, BuiltCrl] = {}
        self._dirty: set[str] = set(self._issuers)
        self._settle: dict[str, datetime] = {}

    @property
    def names(self) -> list[str]:
        return list(self._issuers)

    def mark_changed(self, issuer_key_sha1: str) -> None:
        """A certificate of this CA changed: rebuild now, and once more after ``SETTLE``."""
        name = self._by_key.get(issuer_key_sha1)
        if name is not None:
            self._dirty.add(name)
            self._settle[name] = self._clock() + SETTLE

    def due(self) -> list[str]:
        """CRLs to rebuild now: changed, never built by this updater, or past refresh."""
        now = self._clock()
        for name, deadline in list(self._settle.items()):
            if now >= deadline:
                del self._settle[name]
                self._dirty.add(name)
        return [
            name
            for name in self._issuers
            if name in self._dirty
            or name not in self._built
            or now >= self._built[name].this_update + self._settings.refresh
        ]

    def update(self, name: str) -> BuiltCrl:
        """Sign the CA's CRL from the store's revoked list and store it."""
        issuer = self._issuers[name]
        # Marked clean only once stored: a CRL whose signing or storing failed stays due,
        # so the next round (a second later) tries again rather than the next refresh.
        dirty_before = name in self._dirty
        self._dirty.discard(name)
        now = self._clock().replace(microsecond=0)
        issuer_key = key_sha1(issuer.cert)
        try:
            revoked = self._store.revoked(issuer_key)
            number = self._store.next_crl_number(issuer_key)
        except Exception:
            if dirty_before:
                self._dirty.add(name)
            raise
        built = build_crl(
            ca_cert=issuer.cert,
            ca_key=issuer.key,
            revoked=revoked,
            number=number,
            this_update=now,
            next_update=now + self._settings.validity,
        )
        try:
            self._crls.put(name, built.der)
        except Exception:
            if dirty_before or name not in self._built:
                self._dirty.add(name)
            raise
        self._built[name] = built
        log.info(
            "CRL %s #%d signed with %d entries, stored in %s",
            name,
            built.number,
            built.entries,
            self._crls.location,
        )
        return built

    def update_due(self) -> list[BuiltCrl]:
        return [self.update(name) for name in self.due()]

    def update_all(self) -> list[BuiltCrl]:
        return [self.update(name) for name in self._issuers]

    def follow(
        self,
        feed: ChangeFeed,
        stop: threading.Event,
        *,
        poll_interval: float = 1.0,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        """Until ``stop``: apply the store's changes and update what is due, every
        ``poll_interval`` seconds. A failing round is reported and retried on the next."""
        while True:
            try:
                for change in feed.poll():
                    self.mark_changed(change.issuer_key_sha1)
                self.update_due()
            except Exception as exc:
                log.exception("CRL update round failed")
                if on_error is not None:
                    on_error(exc)
            if stop.wait(poll_interval):
                return


class CaKeysMissingError(FileNotFoundError):
    """The CA keys are not here: this machine cannot sign CRLs."""


def issuers_from_layout(layout: PkiLayout) -> list[CrlIssuer]:
    """The CAs whose keys this home holds: the issuing CA (required; its key is a file
    in the ``pki`` folder or the KMS key ``ca.json`` names) and the root (when its key
    is kept online; production keeps it offline and signs the root's CRL at its
    ceremonies)."""
    if not layout.holds_issuing_key():
        raise CaKeysMissingError(
            f"no issuing CA key at {layout.issuing_key}: run the CRL updater where the CA "
            "keys are (`certsight crl update`)"
        )
    issuers = [
        CrlIssuer(
            ISSUING_NAME,
            load_pem_certificate(layout.issuing_cert),
            open_issuing_signer(layout),
        )
    ]
    if layout.root_key.exists():
        issuers.append(
            CrlIssuer(
                ROOT_NAME, load_pem_certificate(layout.root_cert), load_private_key(layout.root_key)
            )
        )
    return issuers


def sign_crls(
    layout: PkiLayout,
    store: CertificateStore,
    crls: CrlStore,
    clock: Callable[[], datetime],
    settings: CrlSettings | None = None,
) -> dict[str, BuiltCrl]:
    """Sign and store every CRL once (``ca init``, ``certsight crl update``)."""
    updater = CrlUpdater(issuers_from_layout(layout), store, crls, clock, settings)
    return dict(zip(updater.names, updater.update_all(), strict=True))
