"""Run the issuance API under uvicorn: TLS by default (renewal needs client
certificates), plain HTTP only on loopback; one process, or several sharing the port."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

from issuance.api.tls import ClientCertProtocol, ServerTls, server_ssl_options
from issuance.runtime import IssuanceRuntime
from pki.names import is_loopback

DEFAULT_PORT = 8443
log = logging.getLogger(__name__)


class IssuanceServerError(RuntimeError):
    """The issuance server cannot start as asked."""


def closing_app(runtime: IssuanceRuntime) -> FastAPI:
    """The runtime's app, which closes the runtime (writes pending events, closes
    backends) when uvicorn shuts it down."""
    app = runtime.app

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            runtime.close()

    app.router.lifespan_context = lifespan
    return app


def _options(host: str, port: int, tls: ServerTls | None) -> dict[str, Any]:
    if tls is None and not is_loopback(host):
        raise IssuanceServerError(
            f"--plain-http listens on loopback only, not {host}: tokens and keys would "
            "cross the network in clear"
        )
    return {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": ClientCertProtocol if tls else "httptools",
        "lifespan": "on",
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
        "log_level": "warning",
        **(server_ssl_options(tls) if tls else {}),
    }


def serve_issuance(
    runtime: IssuanceRuntime,
    *,
    host: str,
    port: int,
    tls: ServerTls | None,
    renew_tls: Callable[[], ServerTls] | None = None,
) -> None:
    """One process; blocks until SIGINT/SIGTERM. ``renew_tls`` (issue the server's own
    certificate again when due) runs every ``TLS_CHECK_SECONDS``, and a new certificate
    is loaded into the live TLS context: the next handshakes use it, no restart."""
    server = uvicorn.Server(uvicorn.Config(closing_app(runtime), **_options(host, port, tls)))
    stop = threading.Event()
    if tls is not None and renew_tls is not None:
        threading.Thread(
            target=_keep_tls_fresh, args=(server, tls, renew_tls, stop), daemon=True
        ).start()
    try:
        server.run()
    finally:
        stop.set()
    if not server.started:
        raise IssuanceServerError(f"could not start on {host}:{port}; the reason is above")


TLS_CHECK_SECONDS = 3600.0


def _keep_tls_fresh(
    server: uvicorn.Server,
    tls: ServerTls,
    renew_tls: Callable[[], ServerTls],
    stop: threading.Event,
) -> None:
    loaded = tls.certificate.stat().st_mtime_ns
    while not stop.wait(TLS_CHECK_SECONDS):
        try:
            fresh = renew_tls()
            written = fresh.certificate.stat().st_mtime_ns
            context = server.config.ssl
            if written != loaded and context is not None:
                context.load_cert_chain(str(fresh.certificate), str(fresh.key))
                loaded = written
                log.warning("issuance API: its TLS certificate was renewed and loaded")
        except Exception:  # keep serving with the current certificate; retry next hour
            log.exception("issuance API: could not renew its TLS certificate")


def serve_issuance_workers(
    factory: str, *, host: str, port: int, tls: ServerTls | None, workers: int
) -> None:
    """``workers`` processes sharing the port, each building its own runtime through
    ``factory`` (``module:function`` returning the app). The state they share is in
    SQLite files (WAL), so a token created or revoked is seen by all of them."""
    uvicorn.run(factory, factory=True, workers=workers, **_options(host, port, tls))
