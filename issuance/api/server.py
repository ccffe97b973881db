"""Run the issuance API under uvicorn: TLS by default (renewal needs client
certificates), plain HTTP only on loopback."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

from issuance.api.tls import ClientCertProtocol, ServerTls, server_ssl_options
from issuance.runtime import IssuanceRuntime

DEFAULT_PORT = 8443


class IssuanceServerError(RuntimeError):
    """The issuance server cannot start as asked."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_issuance(
    runtime: IssuanceRuntime, *, host: str, port: int, tls: ServerTls | None
) -> None:
    """Blocks until SIGINT/SIGTERM; then pending events are written and backends closed."""
    if tls is None and not is_loopback(host):
        raise IssuanceServerError(
            f"--plain-http listens on loopback only, not {host}: tokens and keys would "
            "cross the network in clear"
        )
    app = runtime.app

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            runtime.close()

    app.router.lifespan_context = lifespan
    options: dict[str, Any] = {
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
    server = uvicorn.Server(uvicorn.Config(app, **options))
    server.run()
    if not server.started:
        raise IssuanceServerError(f"could not start on {host}:{port}; the reason is above")
