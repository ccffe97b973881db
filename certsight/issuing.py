"""Wire a home folder to the issuance service: settings, store, RAW, state, TLS."""

from __future__ import annotations

import signal
from datetime import UTC, datetime

from certsight.settings import CertsightSettings, Home
from issuance.runtime import IssuanceRuntime, build_runtime
from pki.rawlog import LogSink


def _now() -> datetime:
    return datetime.now(UTC)


def issuance_runtime(home: Home, *, events: LogSink | None = None) -> IssuanceRuntime:
    settings = CertsightSettings.load(home)
    return build_runtime(
        layout=home.pki,
        settings=settings.issuance,
        store_uri=home.store_uri,
        raw_dir=home.raw,
        state_dir=home.issuance,
        clock=_now,
        secret=settings.environment.secret,
        events=events,
    )


def serve_issuance_api(home: Home, *, host: str, port: int | None, plain_http: bool) -> None:
    """``certsight serve issuance``: blocks until SIGINT/SIGTERM."""
    from certsight.commands.common import errors
    from issuance.api.server import DEFAULT_PORT, IssuanceServerError, is_loopback, serve_issuance
    from issuance.api.tls import ensure_server_certificate

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
        tls = None
        if not plain_http:
            tls = ensure_server_certificate(
                home.pki,
                home.issuance / "tls",
                host=host,
                now=_now(),
                on_issued=runtime.record_own_certificate,
            )
        scheme = "http" if plain_http else "https"
        errors.print(
            f"serving the issuance API on {scheme}://{host}:{port}/v1 (home {home.root}); "
            "Ctrl-C stops"
        )
        if tls:
            errors.print(f"  its TLS certificate chains to {home.pki.root_cert}")
        serve_issuance(runtime, host=host, port=port, tls=tls)
    finally:
        runtime.close()  # also when the server never started (port taken)
