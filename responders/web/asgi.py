"""ASGI adapter for the local server (uvicorn with uvloop and httptools).

No framework: the ASGI surface is small and a framework's routing would cost
more per request than the whole cached OCSP answer. Lifespan startup builds the
runtime, a background task follows the store's change log (revocations show
within ``poll_interval_s``) and re-reads the stored CRLs off the event loop (an S3
location must never stall OCSP answers); shutdown flushes the access logs.

A worker admits at most ``max_in_flight`` requests at once (``MAX_IN_FLIGHT``); beyond
that a request is answered at once, unread: OCSP with an unsigned ``tryLater`` (RFC 6960
2.3), anything else with 503, both with ``Retry-After`` and ``Connection: close``. The cap
is counted here rather than by uvicorn's ``limit_concurrency``, which also counts idle
keep-alive connections: OCSP clients and CDN origin pools hold many of those, and each
one would then cost a slot and turn real requests away with a bare 503.

``GET /metrics`` answers the Prometheus text exposition of ``metrics.REGISTRY`` to
loopback peers only, judged by the socket's peer address (``scope["client"]``), never by a
header a client or CDN writes; any other peer gets the service's ordinary 404, so the
route is invisible from outside. It is answered before the in-flight cap: a scrape must
work when the worker is full, which is when it matters. Lambda has no such route.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from pki.names import is_loopback
from pki.rawlog import MAX_PENDING_RECORDS, BatchFileSink, LogSink
from responders.ocsp.response import ResponseStatus, unsuccessful
from responders.web import metrics
from responders.web.clientip import client_address
from responders.web.exchange import OCSP_RESPONSE, Headers, HttpRequest
from responders.web.runtime import Runtime, RuntimeConfig, build_runtime

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Requests one worker serves at once. Answering is synchronous on the event loop, so a
# request stays in flight only while its client is slow: sending its body, or reading
# the replies before it. More in flight never means more throughput, only more memory
# (each holds up to MAX_BODY of body and uvicorn's 64 KiB read buffer: 256 of them at
# most some 20 MiB) and later answers. A healthy worker has a handful in flight, so 256
# only binds under a flood or many stalled clients.
MAX_IN_FLIGHT = 256
# When the cap is reached, requests in flight longer than this give their slot up (they
# are cancelled; one still sending its body gets 408), so stalled clients cannot hold a
# worker's slots for ever. As long as uvicorn's keep-alive timeout: an OCSP answer takes
# milliseconds, and a CRL download on a slow link is cut only when the worker is full.
SLOW_REQUEST_S = 30.0
# Keep-alive connections whose requests are counted (``_requests_on``), the one seen
# first dropped first: a dropped connection only starts counting again. About 350 bytes
# each, so 16,384 of them are some 6 MiB; a worker rarely has that many open.
TRACKED_CONNECTIONS = 16_384

_TRY_LATER = unsuccessful(ResponseStatus.tryLater)
_SHED_OCSP = [
    (b"content-type", OCSP_RESPONSE.encode()),
    (b"cache-control", b"no-store"),
    (b"retry-after", b"1"),
    (b"connection", b"close"),  # the client reconnects, maybe to a less busy worker
]
_SHED_OTHER = [
    (b"content-type", b"text/plain"),
    (b"cache-control", b"no-store"),
    (b"retry-after", b"1"),
    (b"connection", b"close"),
]
_TOO_SLOW = [(b"content-type", b"text/plain"), (b"connection", b"close")]
_METRICS = [(b"content-type", metrics.CONTENT_TYPE.encode()), (b"cache-control", b"no-store")]


class ValidationApp:
    def __init__(
        self,
        config: RuntimeConfig,
        *,
        max_in_flight: int = MAX_IN_FLIGHT,
        slow_request_s: float = SLOW_REQUEST_S,
        clock: Callable[[], float] = time.monotonic,
        tracked_connections: int = TRACKED_CONNECTIONS,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("a worker must admit at least one request at a time")
        self._config = config
        self._runtime: Runtime | None = None
        self._sinks: dict[str, LogSink] = {}
        self._sync_task: asyncio.Task[None] | None = None
        # A plain dict in insertion order, not an LRU cache: it is on every request's path,
        # where cachetools' LRUCache costs a tenth of a cached OCSP answer (measured with
        # callgrind, bench/RESULTS.md), and evicting a live connection early only resets
        # its count.
        self._per_connection: dict[tuple[str, int], int] = {}
        self._tracked_connections = tracked_connections
        self._max_in_flight = max_in_flight
        self._slow_request_s = slow_request_s
        self._clock = clock
        # Request task -> when it started, oldest first; and those told to give up.
        self._in_flight: dict[asyncio.Task[Any], float] = {}
        self._reclaimed: set[asyncio.Task[Any]] = set()
        self.shed = 0  # requests answered tryLater/503 because the worker was full
        self.shed_ocsp = 0  # of which OCSP (tryLater): the metric's reason="busy"

    @property
    def in_flight(self) -> int:
        """Requests holding a slot now."""
        return len(self._in_flight) - len(self._reclaimed)

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
        metrics.track(self._runtime, shed_ocsp=lambda: self.shed_ocsp)
        if self._config.raw_dir is not None:
            raw = Path(self._config.raw_dir)
            writers = {
                kind: BatchFileSink(
                    raw / kind,
                    max_records=self._config.log_batch_records,
                    max_seconds=self._config.log_batch_seconds,
                    max_pending=max(MAX_PENDING_RECORDS, self._config.log_batch_records),
                )
                for kind in ("ocsp", "crl")
            }
            self._sinks.update(writers)
            metrics.track_access_logs(writers)
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
        counts = self._per_connection
        count = counts.get(key, 0) + 1
        if count >= self._config.max_requests_per_connection:
            counts.pop(key, None)
            return count
        if count == 1 and len(counts) >= self._tracked_connections:
            # Closed connections are never reported: the oldest entry makes room.
            del counts[next(iter(counts))]
        counts[key] = count
        return count

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = self._runtime
        if runtime is None:
            await _send(send, 503, [(b"content-type", b"text/plain")], b"starting\n")
            return
        if scope["path"] == "/metrics" and scope["method"] == "GET" and _from_loopback(scope):
            await _send(send, 200, _METRICS, metrics.exposition())
            return
        if self.in_flight >= self._max_in_flight and not self._reclaim():
            await self._shed(scope, send)
            return
        task = asyncio.current_task()
        assert task is not None
        self._in_flight[task] = self._clock()
        request: HttpRequest | None = None
        try:
            request = await self._read(runtime, scope, receive)
            if request is not None:
                await self._reply(runtime, request, scope, send)
        except asyncio.CancelledError:
            if task not in self._reclaimed:
                raise  # not ours: shutdown, or the server's own cancellation
            task.uncancel()
            if request is None:  # still sending its body: say why before hanging up
                await _send(send, 408, _TOO_SLOW, b"request too slow\n")
            # A reply under way is cut: returning unfinished makes uvicorn close.
        finally:
            del self._in_flight[task]
            self._reclaimed.discard(task)

    def _reclaim(self) -> bool:
        """Cancel the requests in flight for longer than ``slow_request_s``; whether a slot
        is free now. Only called when the worker is full, so it costs nothing otherwise."""
        cutoff = self._clock() - self._slow_request_s
        for task, started in self._in_flight.items():  # oldest first
            if started > cutoff:
                break
            if task not in self._reclaimed:
                task.cancel()
                self._reclaimed.add(task)
        return self.in_flight < self._max_in_flight

    async def _shed(self, scope: Scope, send: Send) -> None:
        """Answer without reading the request: the worker is full."""
        self.shed += 1
        if self.shed % 1000 == 1:
            log.warning(
                "worker full (%d requests in flight): %d requests answered tryLater or 503",
                self._max_in_flight,
                self.shed,
            )
        path = scope.get("raw_path") or scope["path"].encode()
        if path == b"/ocsp" or path.startswith((b"/ocsp/", b"/ocsp?")):
            self.shed_ocsp += 1
            await _send(send, 200, _SHED_OCSP, _TRY_LATER)
        else:
            await _send(send, 503, _SHED_OTHER, b"busy, try again\n")

    async def _read(self, runtime: Runtime, scope: Scope, receive: Receive) -> HttpRequest | None:
        """The request with its body (up to the cap); None if the client left."""
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
                    return None
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
        return HttpRequest(
            method=scope["method"],
            path=path,
            headers=headers,
            body=chunks[0] if len(chunks) == 1 else b"".join(chunks),
            client_ip=client_address(headers, peer[0] if peer else "", runtime.viewer_trust),
            body_too_large=too_large,
        )

    async def _reply(
        self, runtime: Runtime, request: HttpRequest, scope: Scope, send: Send
    ) -> None:
        peer = scope.get("client")
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
        "x-certsight-origin-secret",
    )
}


def _from_loopback(scope: Scope) -> bool:
    """Whether the TCP peer is this host (no peer, as on a Unix socket: not)."""
    peer = scope.get("client")
    return peer is not None and is_loopback(str(peer[0]))


async def _send(send: Send, status: int, headers: Headers, body: bytes) -> None:
    framed = [*headers, (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": framed})
    await send({"type": "http.response.body", "body": body})


def create_app() -> ValidationApp:
    """uvicorn factory for worker processes: configuration travels in the environment."""
    return ValidationApp(RuntimeConfig.from_env())
