"""ASGI adapter for the local server (uvicorn with uvloop and httptools).

No framework: the ASGI surface is small and a framework's routing would cost
more per request than the whole cached OCSP answer. Lifespan startup builds the
runtime, a background task follows the store's change log (revocations show
within ``poll_interval_s``) and re-reads the stored CRLs off the event loop (an S3
location must never stall OCSP answers); shutdown flushes the access logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from pki.rawlog import BatchFileSink, LogSink
from responders.web.clientip import client_address
from responders.web.exchange import Headers, HttpRequest
from responders.web.runtime import Runtime, RuntimeConfig, build_runtime

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ValidationApp:
    def __init__(self, config: RuntimeConfig) -> None:
        self._config = config
        self._runtime: Runtime | None = None
        self._sinks: dict[str, LogSink] = {}
        self._sync_task: asyncio.Task[None] | None = None
        self._per_connection: dict[tuple[str, int], int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    # -- lifespan --------------------------------------------------------------
    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.start()
                except Exception as exc:
                    log.exception("validation service failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                self._sync_task = asyncio.create_task(self._follow_store())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._sync_task is not None:
                    self._sync_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._sync_task
                self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def start(self) -> None:
        self._runtime = build_runtime(self._config, adapter="http")
        if self._config.raw_dir is not None:
            raw = Path(self._config.raw_dir)
            for kind in ("ocsp", "crl"):
                self._sinks[kind] = BatchFileSink(
                    raw / kind,
                    max_records=self._config.log_batch_records,
                    max_seconds=self._config.log_batch_seconds,
                )
        crl = self._runtime.crl
        if crl is not None:
            for name in crl.names:  # read the stored CRLs before the first request
                crl.refresh(name)
            crl.refresh_on_read = False  # _follow_store refreshes them off the event loop

    def stop(self) -> None:
        for sink in self._sinks.values():
            sink.close()
        self._sinks.clear()
        if self._runtime is not None:
            self._runtime.store.close()

    async def _follow_store(self) -> None:
        assert self._runtime is not None
        runtime = self._runtime
        while True:
            await asyncio.sleep(self._config.poll_interval_s)
            try:
                runtime.sync()
                if runtime.crl is not None:
                    for name in runtime.crl.names:
                        await asyncio.to_thread(runtime.crl.refresh, name)
            except Exception:
                log.exception("could not refresh from the certificate store")

    # -- requests --------------------------------------------------------------
    def _requests_on(self, peer: tuple[str, int] | list[Any]) -> int:
        """Requests served on this keep-alive connection (keyed by the client's address and
        port). After ``max_requests_per_connection`` the reply closes the connection, as
        nginx's keepalive_requests does: the client reconnects and the kernel hands the new
        connection to whichever worker accepts first, usually the idler one. Without this,
        long-lived connections stay wherever they first landed and one worker can carry
        twice the load of the other."""
        key = (peer[0], peer[1])
        count = self._per_connection.get(key, 0) + 1
        if count >= self._config.max_requests_per_connection:
            self._per_connection.pop(key, None)
            return count
        if len(self._per_connection) > 100_000:  # closed connections are never reported
            self._per_connection.clear()
        self._per_connection[key] = count
        return count

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = self._runtime
        if runtime is None:
            await _send(send, 503, [(b"content-type", b"text/plain")], b"starting\n")
            return
        limit = runtime.service.max_body
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            wanted = _WANTED_HEADERS.get(name)  # ASGI header names are lower-case
            if wanted is not None:
                headers[wanted] = value.decode("latin-1")
        chunks: list[bytes] = []
        size = 0
        too_large = False
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            too_large = True
        else:
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    too_large = True
                    break
                chunks.append(chunk)
                more = message.get("more_body", False)
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1")
        if "?" in path:  # ASGI leaves the query out of raw_path, but be safe
            path = path.split("?", 1)[0]
        peer = scope.get("client")
        request = HttpRequest(
            method=scope["method"],
            path=path,
            headers=headers,
            body=chunks[0] if len(chunks) == 1 else b"".join(chunks),
            client_ip=client_address(headers, peer[0] if peer else ""),
            body_too_large=too_large,
        )
        exchange = runtime.service.handle(request)
        reply = exchange.reply
        headers_out = reply.headers
        if peer is not None and self._requests_on(peer) >= self._config.max_requests_per_connection:
            headers_out = [*headers_out, (b"connection", b"close")]
        await _send(send, reply.status, headers_out, reply.body)
        if exchange.record is not None:
            sink = self._sinks.get(exchange.log_kind or "")
            if sink is not None:
                sink.emit(exchange.record)


# The only request headers the services read; decoding the rest would be wasted work.
_WANTED_HEADERS = {
    name.encode(): name
    for name in (
        "content-length",
        "user-agent",
        "if-none-match",
        "x-amz-cf-id",
        "cloudfront-viewer-address",
    )
}


async def _send(send: Send, status: int, headers: Headers, body: bytes) -> None:
    framed = [*headers, (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": framed})
    await send({"type": "http.response.body", "body": body})


def create_app() -> ValidationApp:
    """uvicorn factory for worker processes: configuration travels in the environment."""
    return ValidationApp(RuntimeConfig.from_env())
