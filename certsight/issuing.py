"""Wire a home folder to the issuance service: settings, store, RAW, state, TLS."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime

from fastapi import FastAPI

from certsight.settings import HOME_ENV, CertsightSettings, Home
from issuance.runtime import IssuanceRuntime, build_runtime
from pki.rawlog import LogSink


def _now() -> datetime:
    return datetime.now(UTC)


def issuance_runtime(home: Home, *, events: LogSink | None = None) -> IssuanceRuntime:
    settings = CertsightSettings.load(home)
    acme_settings = settings.acme_settings()  # a bad CERTSIGHT_ACME_HTTP01_PORT fails here
    runtime = build_runtime(
        layout=home.pki,
        settings=settings.issuance,
        store_uri=home.store_uri,
        raw_dir=home.raw,
        state_dir=home.issuance,
        clock=_now,
        secret=settings.environment.secret,
        events=events,
    )
    # The ACME server (docs/acme.md) on the same service, state file and policy.
    from issuance.acme.wiring import build_acme_app, mount_acme
    from issuance.runtime import STATE_FILE

    acme = build_acme_app(
        service=runtime.service,
        issuance=settings.issuance,
        settings=acme_settings,
        state_file=home.issuance / STATE_FILE,
        clock=_now,
    )
    mount_acme(runtime.app, acme)
    return runtime


def worker_app() -> FastAPI:
    """One worker's app under ``serve issuance --workers N`` (uvicorn's factory): the home
    comes from ``CERTSIGHT_HOME``, which the parent sets."""
    from issuance.api.server import closing_app

    return closing_app(issuance_runtime(Home.resolve(None)))


def serve_issuance_api(
    home: Home, *, host: str, port: int | None, plain_http: bool, workers: int = 1
) -> None:
    """``certsight serve issuance``: blocks until SIGINT/SIGTERM."""
    from certsight.commands.common import errors
    from issuance.api.server import (
        DEFAULT_PORT,
        IssuanceServerError,
        serve_issuance,
        serve_issuance_workers,
    )
    from issuance.api.tls import ServerTls, ensure_server_certificate
    from pki.names import is_loopback

    port = port or DEFAULT_PORT
    if plain_http and not is_loopback(host):
        raise IssuanceServerError(
            f"--plain-http listens on loopback only, not {host}: tokens and keys would "
            "cross the network in clear"
        )

    def _terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminated)
    runtime = issuance_runtime(home)
    try:

        def server_certificate() -> ServerTls:
            return ensure_server_certificate(
                home.pki,
                home.issuance / "tls",
                host=host,
                now=_now(),
                on_issued=runtime.record_own_certificate,
            )

        tls = None if plain_http else server_certificate()
        scheme = "http" if plain_http else "https"
        errors.print(
            f"serving the issuance API on {scheme}://{host}:{port}/v1 (home {home.root}"
            + (f", {workers} workers" if workers > 1 else "")
            + "); Ctrl-C stops"
        )
        errors.print(f"  ACME directory: {scheme}://{host}:{port}/acme/directory")
        if tls:
            errors.print(f"  its TLS certificate chains to {home.pki.root_cert}")
        if workers > 1:
            runtime.close()  # each worker builds its own
            os.environ[HOME_ENV] = str(home.root)
            serve_issuance_workers(
                "certsight.issuing:worker_app", host=host, port=port, tls=tls, workers=workers
            )
        else:
            serve_issuance(runtime, host=host, port=port, tls=tls, renew_tls=server_certificate)
    finally:
        runtime.close()  # also when the server never started (port taken)
