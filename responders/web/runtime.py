"""Assemble the validation services from a home folder: CA certificates, the OCSP
signer, the certificate store, the stored CRLs and the access logs.

No CA key is read here: the OCSP role signs with the delegated signer's key, and the
CRL role serves the bytes the issuance module's CRL updater stored.

Shared by the local server (one runtime per worker process) and the Lambda
handler (one per container), so both answer identically.

The runtime follows the store's change feed (``sync``, called by the adapters) and keeps
its health in ``FeedHealth``, which the OCSP responder asks before it signs a remembered
status again: after ``status_max_age_s`` without a successful poll, only statuses read
from the store are signed (feed_health.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from pki.layout import ISSUING_NAME, ROOT_NAME, PkiLayout
from pki.pem import load_pem_certificate
from pki.store.base import CertificateStore, StoreError
from pki.store.crls import open_crl_store
from pki.store.factory import open_store
from pki.store.feed import ChangeFeed
from responders.crl.server import CrlServer, CrlServerSettings
from responders.ocsp.authority import load_authorities
from responders.ocsp.responder import OcspResponder, ResponderSettings
from responders.web.clientip import NO_TRUST, ViewerTrust, parse_secrets
from responders.web.exchange import (
    DEFAULT_CDN_MAX_AGE,
    MAX_BODY,
    ValidationService,
    check_cdn_max_age,
)
from responders.web.feed_health import DEFAULT_MAX_AGE, FeedHealth

ROLES = ("ocsp", "crl")
_ENV = "CERTSIGHT_RUNTIME"
ORIGIN_SECRET_ENV = "CERTSIGHT_ORIGIN_SECRET"  # noqa: S105 - the variable's name


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RuntimeConfig:
    """Everything a worker needs, serialisable so that uvicorn's workers get the same."""

    pki_dir: str
    raw_dir: str | None
    store_uri: str
    roles: tuple[str, ...] = ROLES
    ocsp_validity_s: int = 3600
    ocsp_refresh_margin_s: int | None = None  # default: a sixth of the validity, >= 60 s
    crl_location: str | None = None  # folder or s3:// prefix; default: pki_dir/crl
    crl_recheck_s: float = 1.0  # how often the stored CRLs are checked for a new one
    crl_max_age_s: int = 3600  # longest a cache may keep a CRL (capped by its nextUpdate)
    poll_interval_s: float = 1.0
    # Longest time without a successful poll of the change feed during which remembered
    # statuses are still signed (feed_health.py); then only fresh store reads are.
    status_max_age_s: int = int(DEFAULT_MAX_AGE.total_seconds())
    log_batch_records: int = 10_000
    log_batch_seconds: float = 60.0
    max_body: int = MAX_BODY
    # Cap on the max-age of OCSP and CRL answers (exchange.py ``_CacheHeaders``): how long
    # a CDN may answer from its copy before asking again; stale-if-error covers the rest.
    cdn_max_age_s: int = DEFAULT_CDN_MAX_AGE
    max_requests_per_connection: int = 1000  # then close, so workers rebalance (as nginx)
    # Believe CloudFront-Viewer-Address (only behind a CDN); with CERTSIGHT_ORIGIN_SECRET
    # set, only on requests that carry the secret the CDN adds. Never the secret here:
    # this configuration travels to worker processes in the environment.
    trust_viewer_address: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.roles) - set(ROLES)
        if unknown or not self.roles:
            raise ValueError(f"roles must be among {ROLES}, got {self.roles}")
        if self.poll_interval_s <= 0:
            raise ValueError("poll interval must be positive")
        if self.status_max_age_s <= self.poll_interval_s:
            # Shorter, and remembered statuses would go untrusted between two good polls.
            raise ValueError(
                f"status max age ({self.status_max_age_s} s) must exceed the change feed's "
                f"poll interval ({self.poll_interval_s} s)"
            )
        check_cdn_max_age(self.cdn_max_age_s)  # here, so a bad value stops before any worker

    def to_env(self) -> None:
        os.environ[_ENV] = json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> RuntimeConfig:
        raw = os.environ.get(_ENV)
        if not raw:
            raise RuntimeError(f"{_ENV} is not set: start the server with `certsight serve`")
        data = json.loads(raw)
        data["roles"] = tuple(data["roles"])
        return cls(**data)


Clock = Callable[[], datetime]


@dataclass
class Runtime:
    service: ValidationService
    store: CertificateStore
    feed: ChangeFeed
    ocsp: OcspResponder | None
    crl: CrlServer | None
    config: RuntimeConfig
    feed_health: FeedHealth
    viewer_trust: ViewerTrust = NO_TRUST
    clock: Clock = utc_now

    def sync(self) -> int:
        """Apply store changes to caches; returns how many certificates changed.

        A store error is the feed failing, recorded in ``feed_health`` (which logs and
        counts it) and answered with 0: it is expected, and the adapters poll again.
        Anything else is a bug: recorded too, then raised."""
        now = self.clock()
        try:
            changes = self.feed.poll()
            for change in changes:
                if self.ocsp is not None:
                    self.ocsp.forget(change.issuer_key_sha1, change.serial)
        except Exception as exc:
            self.feed_health.failed(now, exc)
            if isinstance(exc, StoreError):
                return 0
            raise
        self.feed_health.succeeded(now)
        return len(changes)


def build_runtime(
    config: RuntimeConfig,
    *,
    adapter: str,
    store: CertificateStore | None = None,
    clock: Clock = utc_now,
) -> Runtime:
    """``store``: the one to serve (default: opened from ``config.store_uri``); ``clock``:
    the time every part answers for. Both are for tests and benchmarks to pass their own."""
    layout = PkiLayout(Path(config.pki_dir))
    store = store if store is not None else open_store(config.store_uri)
    feed = ChangeFeed(store)  # its first poll: a store that cannot answer stops the start
    health = FeedHealth(timedelta(seconds=config.status_max_age_s), clock())
    ocsp = None
    if "ocsp" in config.roles:
        ocsp = OcspResponder(
            load_authorities(layout),
            store,
            clock,
            ResponderSettings(
                validity=timedelta(seconds=config.ocsp_validity_s),
                refresh_margin=timedelta(
                    seconds=config.ocsp_refresh_margin_s or max(60, config.ocsp_validity_s // 6)
                ),
            ),
            trust=health,
        )
    crl = None
    issuing = load_pem_certificate(layout.issuing_cert)
    root = load_pem_certificate(layout.root_cert)
    if "crl" in config.roles:
        crl = CrlServer(
            [(ISSUING_NAME, issuing), (ROOT_NAME, root)],
            open_crl_store(config.crl_location or str(layout.crl_dir)),
            clock,
            CrlServerSettings(
                recheck=timedelta(seconds=config.crl_recheck_s),
                max_age=timedelta(seconds=config.crl_max_age_s),
            ),
        )
    der = serialization.Encoding.DER
    service = ValidationService(
        ocsp=ocsp,
        crl=crl,
        ca_certificates={
            ISSUING_NAME: issuing.public_bytes(der),
            ROOT_NAME: root.public_bytes(der),
        },
        clock=clock,
        adapter=adapter,
        max_body=config.max_body,
        cdn_max_age=config.cdn_max_age_s,
    )
    trust = ViewerTrust(
        header=config.trust_viewer_address,
        secrets=parse_secrets(os.environ.get(ORIGIN_SECRET_ENV)),
    )
    return Runtime(
        service,
        store,
        feed,
        ocsp,
        crl,
        config,
        feed_health=health,
        viewer_trust=trust,
        clock=clock,
    )
