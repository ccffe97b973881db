"""Wire the issuance service from a home's files and settings: store, state, backends,
events. The CLI, ``certsight run``, the Lambda handler and the tests build it here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI

from issuance.api.app import create_app
from issuance.backends import open_backend
from issuance.backends.base import BackendConfigError, BackendContext, CaBackend
from issuance.events import certificate_event
from issuance.policy import Grant
from issuance.service import IssuanceService
from issuance.settings import IssuanceSettings
from issuance.statedb import StateDb
from issuance.tokens import TokenStore
from pki.certificates import IssuedCertificate
from pki.layout import PkiLayout
from pki.rawlog import BatchFileSink, LogSink
from pki.store.base import CertificateStore
from pki.store.factory import open_store

STATE_FILE = "issuance.sqlite"
EVENT_BATCH_SECONDS = 1.0  # issuance is rare next to validation: a short window to lose


@dataclass
class IssuanceRuntime:
    service: IssuanceService
    tokens: TokenStore
    state: StateDb
    store: CertificateStore
    events: LogSink
    app: FastAPI
    closed: bool = False

    def record_own_certificate(self, issued: IssuedCertificate) -> None:
        """The service's own TLS certificate, in the inventory like any other: OCSP
        answers for it and the LAKE lists it."""
        self.store.add(issued.record)
        pem = issued.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
        self.events.emit(certificate_event("issued", issued.record, certificate_pem=pem))

    def close(self) -> None:
        """Idempotent: the server's shutdown and the CLI's failure path may both call it."""
        if self.closed:
            return
        self.closed = True
        self.service.close()
        self.events.close()
        self.state.close()
        self.store.close()


def open_state(state_dir: Path) -> StateDb:
    return StateDb(state_dir / STATE_FILE)


def build_runtime(
    *,
    layout: PkiLayout,
    settings: IssuanceSettings,
    store_uri: str,
    raw_dir: Path | None,
    state_dir: Path,
    clock: Callable[[], datetime],
    secret: Callable[[str], str | None] = lambda _name: None,
    events: LogSink | None = None,
) -> IssuanceRuntime:
    layout.read_config()  # "run ca init first" before anything else
    configured = settings.all_backends()
    context = BackendContext(
        layout=layout, state_dir=state_dir / "backends", clock=clock, secret=secret
    )

    def backend(name: str) -> CaBackend:
        found = configured.get(name)
        if found is None:
            raise BackendConfigError(f"no CA backend named {name}")
        return open_backend(name, found, context)

    if events is None:
        if raw_dir is None:
            raise ValueError("issuance events need a RAW folder or a sink")
        events = BatchFileSink(raw_dir / "issuance", max_seconds=EVENT_BATCH_SECONDS)
    store = open_store(store_uri, background_checkpoints=True)
    state = open_state(state_dir)
    tokens = TokenStore(state)

    def grant_of(requester: str) -> Grant | None:
        """The current grant of whoever obtained a certificate: ``api:<token>`` or
        ``iam:<principal>``; None when it is gone (or for anything else)."""
        kind, _, name = requester.partition(":")
        if kind == "api":
            return tokens.grant_of(name, clock())
        principal = settings.principals.get(name) if kind == "iam" else None
        if principal is None:
            return None
        return Grant.build(requester, principal.allow, principal.profiles, principal.rate_limit)

    service = IssuanceService(
        settings=settings,
        store=store,
        state=state,
        events=events,
        backends=backend,
        clock=clock,
        grants=grant_of,
    )
    app = create_app(
        service,
        tokens,
        clock=clock,
        principals=settings.principals,
        max_body_bytes=settings.max_body_bytes,
    )
    return IssuanceRuntime(service, tokens, state, store, events, app)
