"""``certsight serve publishing``: the publishing folder as static files over HTTP, with an
access-log record per request (kind ``download``) in the responders' JSON-lines format.

Starlette's ``StaticFiles`` does the file work it does well: paths resolved inside the
folder only (``..`` and symlinks out of it are refused), GET and HEAD, conditional
requests, and byte ranges (a resumed wheel download). Around it this module adds what a
publishing origin needs: no directory listing and no hidden file (writers' ``.tmp``
names) is ever served, unknown paths get an RFC 9457 problem document, content types
for certificates and trust stores, cache lifetimes that suit TUF (``timestamp.json``
must not be cached; consistent-snapshot files never change), and the log record, with
the bytes actually sent.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import orjson
import uvicorn
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from pki.rawlog import BatchFileSink, LogSink, event_time

LOG_KIND = "download"
DEFAULT_PORT = 8081
_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"
_SHORT = "public, max-age=300"
CONTENT_TYPES = {
    ".crt": "application/pkix-cert",
    ".crl": "application/pkix-crl",
    ".pem": "application/x-pem-file",
    ".p7b": "application/pkcs7-mime",
    ".p12": "application/x-pkcs12",
    ".whl": "application/zip",
    ".json": "application/json",
    ".sh": "text/x-shellscript; charset=utf-8",
    ".service": "text/plain; charset=utf-8",
    ".timer": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
_HASHED = 64  # consistent-snapshot names start with the SHA-256 hex and a dot


class PublishingServerError(RuntimeError):
    """The publishing server could not start; the message says why."""


def content_type(path: str) -> str:
    """By the last suffix (``roots.p7b.pem`` is PEM text)."""
    return CONTENT_TYPES.get(os.path.splitext(path)[1], "application/octet-stream")


def cache_control(path: str) -> str:
    """TUF's timestamp (and the plain convenience copies) change in place; versioned
    metadata and hashed targets never do."""
    name = path.rsplit("/", 1)[-1]
    prefix = name.split(".", 1)[0]
    if path.startswith("/tuf/metadata/"):
        return _IMMUTABLE if prefix.isdigit() else _REVALIDATE
    if path.startswith("/tuf/targets/") and len(prefix) == _HASHED:
        return _IMMUTABLE
    return _REVALIDATE if path.startswith("/truststore/") else _SHORT


def _problem(status: int, title: str, detail: str) -> Response:
    body = orjson.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
    return Response(
        body,
        status_code=status,
        media_type="application/problem+json",
        headers={"cache-control": "no-store"},
    )


class _Files(StaticFiles):
    """StaticFiles with our content types and cache headers."""

    def file_response(
        self, full_path: Any, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        path = str(scope["path"])
        response.headers["content-type"] = content_type(path)
        response.headers["cache-control"] = cache_control(path)
        return response


class PublishingApp:
    """ASGI app over ``folder``; each request's record goes to ``sink`` (if any)."""

    def __init__(
        self,
        folder: Path,
        sink: LogSink | None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._files = _Files(directory=folder, html=False, check_dir=False)
        self._sink = sink
        self._clock = clock
        self._id_prefix = os.urandom(6).hex()
        self._ids = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        path = str(scope["path"])
        response = await self._respond(path, scope)
        sent = {"status": 0, "bytes": 0}

        async def counting(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                sent["status"] = int(message["status"])
            elif message["type"] == "http.response.body":
                sent["bytes"] += len(message.get("body", b""))
            await send(message)

        await response(scope, receive, counting)
        if self._sink is not None and path != "/healthz":  # probes are not downloads
            self._sink.emit(self._record(scope, path, sent["status"], sent["bytes"], started))

    async def _respond(self, path: str, scope: Scope) -> Response:
        if path == "/healthz":
            return Response(b"ok\n", media_type="text/plain")
        segments = [s for s in path.split("/") if s]
        if not segments or any(s.startswith(".") for s in segments) or path.endswith("/"):
            return _problem(404, "Not Found", "no published file at this path")
        try:
            return await self._files.get_response("/".join(segments), scope)
        except HTTPException as exc:
            if exc.status_code == 405:
                problem = _problem(405, "Method Not Allowed", "use GET or HEAD")
                problem.headers["allow"] = "GET, HEAD"
                return problem
            return _problem(404, "Not Found", "no published file at this path")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._sink is not None:
                    self._sink.close()  # writes whatever is pending
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _record(
        self, scope: Scope, path: str, status: int, size: int, started: float
    ) -> dict[str, Any]:
        """The responders' record fields (docs/access-logs.md), ``log`` = ``download``."""
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        client = scope.get("client")
        return {
            "log": LOG_KIND,
            "event_time": event_time(self._clock()),
            "request_id": f"{self._id_prefix}{next(self._ids):010x}",
            "cf_request_id": headers.get("x-amz-cf-id"),
            "source": "lambda",  # the origin's records, as the responders write them
            "adapter": "http",
            "client_ip": client[0] if client else "",
            "user_agent": headers.get("user-agent"),
            "http_method": scope["method"],
            "path": path[:512],
            "http_status": status,
            "request_bytes": 0,
            "response_bytes": size,
            "range": headers.get("range"),
            "latency_ms": int((time.perf_counter() - started) * 1_000_000) / 1000,
        }


class _QuietExitServer(uvicorn.Server):
    """A signal is a request to stop, and a clean stop is success: exit 0 rather than
    re-raising the signal after shutdown as uvicorn does (the responders do the same)."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


def serve_publishing(
    folder: Path, raw: Path | None, *, host: str, port: int, log_batch_seconds: float = 60.0
) -> None:
    """Blocks until SIGINT/SIGTERM; shutdown writes the pending access-log records."""
    if not folder.is_dir():
        raise PublishingServerError(
            f"nothing published at {folder} (run `certsight publish truststore` first)"
        )
    sink = BatchFileSink(raw / LOG_KIND, max_seconds=log_batch_seconds) if raw else None
    config = uvicorn.Config(
        PublishingApp(folder, sink),
        host=host,
        port=port,
        lifespan="on",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        log_level="warning",
    )
    server = _QuietExitServer(config)
    server.run()
    if not server.started:
        if sink is not None:
            sink.close()
        raise PublishingServerError(f"could not start on {host}:{port}; the reason is above")
