"""Issue 10, item 3: every cache of the responder is bounded by bytes and by entries,
nothing malformed is ever remembered, and a worker admits a bounded number of requests
at once, answering the rest at once without reading them.

The bounds are asserted on the caches' own byte counts (``currsize``), never on RSS; a
tracemalloc test checks that those counts do not undercount what the entries keep alive.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import socket
import threading
import time
import tracemalloc
import urllib.request
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from asn1crypto import ocsp as asn1_ocsp
from cryptography.x509 import ocsp

from pki import der
from pki.ocsp_request import NONCE_OID
from responders.ocsp.authority import AuthorityIndex
from responders.ocsp.cache import BoundedLru, CachingSource
from responders.ocsp.responder import OcspResponder, ResponderSettings
from responders.ocsp.response import ResponseStatus, unsuccessful
from responders.web.asgi import ValidationApp
from responders.web.exchange import HttpRequest
from responders.web.runtime import RuntimeConfig, build_runtime
from tests.conftest import PkiHome, free_port
from tests.responders.ocsp_doubles import (
    NOW,
    Recorder,
    admitted,
    issuing_key,
    serial_request,
    signed,
)
from tests.responders.test_ocsp_core import cert_id, load, multi_request

Message = MutableMapping[str, Any]
TRY_LATER = unsuccessful(ResponseStatus.tryLater)
NONCE = b"\x04\x10"  # an OCTET STRING of 16 octets follows


def responder(home: PkiHome, authorities: AuthorityIndex, **bounds: Any) -> OcspResponder:
    """A responder with the given cache bounds (ResponderSettings' names), the rest default."""
    return OcspResponder(authorities, home.store(), lambda: NOW, ResponderSettings(**bounds))


_CERT_ID_HEADS: dict[Path, bytes] = {}


def serials_request(home: PkiHome, first: int, count: int, nonce: bytes | None = None) -> bytes:
    """A request for ``count`` consecutive serials of the issuing CA from ``first`` on
    (SHA-1 CertIDs). Built from octets, the way a client encodes it, because thousands
    are made per test and asn1crypto takes milliseconds a request."""
    head = _CERT_ID_HEADS.get(home.pki)
    if head is None:
        template = cert_id(load(home.good), load(home.home.pki.issuing_cert))
        algorithm, name_hash, key_hash = (
            template[k] for k in ("hash_algorithm", "issuer_name_hash", "issuer_key_hash")
        )
        head = algorithm.dump() + name_hash.dump() + key_hash.dump()
        _CERT_ID_HEADS[home.pki] = head
    request_list = der.sequence(
        *(
            der.sequence(der.sequence(head + der.tlv(0x02, _integer(serial))))
            for serial in range(first, first + count)
        )
    )
    if nonce is None:
        return der.sequence(der.sequence(request_list))
    extension = der.sequence(der.oid(NONCE_OID), der.octet_string(nonce))
    return der.sequence(der.sequence(request_list, der.explicit(2, der.sequence(extension))))


def _integer(value: int) -> bytes:
    """The contents of a DER INTEGER: minimal two's complement."""
    return value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True)


def assert_within_bounds(caches: Mapping[str, BoundedLru[Any, Any]]) -> None:
    for name, cache in caches.items():
        assert cache.currsize <= cache.max_bytes, name
        assert len(cache) <= cache.max_entries, name


# -- nothing malformed is remembered ------------------------------------------------------
def garbage_bodies(home: PkiHome, count: int) -> Iterator[bytes]:
    """Unique bodies, 12 KiB as in the issue's measurement: random octets, DER-looking
    SEQUENCEs of junk, a real request with unique trailing data, and well-formed requests
    about an issuer not served here (each with its own issuer key hash)."""
    valid = serials_request(home, 7, 1)
    template = cert_id(load(home.good), load(home.home.pki.issuing_cert)).native
    placeholder = b"\x01" * 20
    stranger = multi_request([asn1_ocsp.CertId({**template, "issuer_key_hash": placeholder})])
    junk = hashlib.shake_256(b"junk").digest(12 * 1024)
    for n in range(count):
        unique = n.to_bytes(4, "big")
        kind = n % 4
        if kind == 0:
            yield unique + junk[4:]
        elif kind == 1:
            content = unique + junk[: 12 * 1024 - 8]
            yield b"\x30\x82" + len(content).to_bytes(2, "big") + content
        elif kind == 2:
            yield valid + unique + junk[: 12 * 1024 - len(valid) - 4]
        else:  # well-formed DER; only the issuer key hash differs
            yield stranger.replace(placeholder, hashlib.sha1(unique).digest())


def test_unique_garbage_bodies_leave_every_cache_empty(pki_home: PkiHome) -> None:
    """20,000 unique 12 KiB garbage POSTs through the HTTP layer and the OCSP core: each
    is refused, and not one byte of any cache is spent on them (the old memo kept them
    all, about 1.4 GB per worker at its 100,000 entries)."""
    runtime = build_runtime(
        RuntimeConfig(
            pki_dir=str(pki_home.home.pki.root),
            raw_dir=None,
            store_uri=str(pki_home.home.pki.store),
        ),
        adapter="http",
    )
    assert runtime.ocsp is not None
    caches = runtime.ocsp.caches
    refused = {
        unsuccessful(ResponseStatus.malformedRequest),
        unsuccessful(ResponseStatus.unauthorized),
    }
    seen = 0
    for body in garbage_bodies(pki_home, 20_000):
        reply = runtime.service.handle(HttpRequest("POST", "/ocsp", {}, body, "192.0.2.1")).reply
        assert reply.status == 200
        assert reply.body in refused
        seen += 1
    assert seen == 20_000
    assert {name: (len(c), c.currsize) for name, c in caches.items()} == {
        "requests": (0, 0),
        "responses": (0, 0),
        "statuses": (0, 0),
    }
    # A good request is remembered as before: the memo works, it just ignores garbage.
    good = serials_request(pki_home, 7, 1)
    runtime.service.handle(HttpRequest("POST", "/ocsp", {}, good, "192.0.2.1"))
    assert good in caches["requests"]
    runtime.store.close()


# -- valid requests never exceed the bounds ---------------------------------------------
def test_unique_valid_requests_stay_within_bytes_and_entries(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    """Distinct serials, one to four CertIDs a request: every cache fills to the bound
    that binds it (bytes for some, entries for others) and never past either."""
    ocsp_responder = responder(
        pki_home,
        authorities,
        request_memo_bytes=10**7,
        request_memo_entries=30,  # the entry bound binds
        response_cache_bytes=60_000,  # the byte bound binds: about 3 to 7 KB an entry
        response_cache_entries=10**6,
        status_memo_bytes=20_000,
        status_memo_entries=10**6,
    )
    caches = ocsp_responder.caches
    serial = 1000
    for n in range(400):
        count = 1 + n % 4
        result = ocsp_responder.respond(serials_request(pki_home, serial, count), NOW)
        assert result.status is ResponseStatus.successful
        serial += count
        assert_within_bounds(caches)
    assert len(caches["requests"]) == 30
    for name in ("responses", "statuses"):
        cache = caches[name]
        assert cache.currsize > cache.max_bytes - cache.max_item_bytes, name
    # The newest answer is still cached.
    last = serials_request(pki_home, serial - 4, 4)
    assert ocsp_responder.respond(last, NOW).cache_hit

    # Nonce requests are unique by design: neither remembered nor cached (RFC 8954).
    before = {name: (len(c), c.currsize) for name, c in caches.items() if name != "statuses"}
    for n in range(200):
        nonce = NONCE + n.to_bytes(16, "big")
        result = ocsp_responder.respond(serials_request(pki_home, 50_000 + n, 1, nonce), NOW)
        assert result.status is ResponseStatus.successful and result.nonce
        assert_within_bounds(caches)
    after = {name: (len(c), c.currsize) for name, c in caches.items() if name != "statuses"}
    assert after == before


def test_a_flood_of_once_asked_requests_does_not_evict_the_repeated_ones(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    """Random serials of a served issuer are valid requests that cost nothing to make:
    ten times the cache's size of them must not push out what clients keep asking."""
    ocsp_responder = responder(
        pki_home,
        authorities,
        request_memo_entries=50,
        response_cache_entries=50,
        status_memo_entries=50,
    )
    hot = [serials_request(pki_home, 10 + n, 1) for n in range(20)]
    for data in hot * 2:
        ocsp_responder.respond(data, NOW)
    for n in range(500):
        ocsp_responder.respond(serials_request(pki_home, 100_000 + n, 1), NOW)
    assert_within_bounds(ocsp_responder.caches)
    assert all(ocsp_responder.respond(data, NOW).cache_hit for data in hot)
    assert all(data in ocsp_responder.caches["requests"] for data in hot)


SETTINGS = {"requests": "request_memo", "responses": "response_cache", "statuses": "status_memo"}


@pytest.mark.parametrize("per_request", [1, 4])
@pytest.mark.parametrize("cache_name", list(SETTINGS))
def test_byte_counts_do_not_undercount_what_entries_keep_alive(
    pki_home: PkiHome, authorities: AuthorityIndex, cache_name: str, per_request: int
) -> None:
    """The byte bound is only as good as the entries' sizes: fill one cache (the others
    hold one entry) and compare its count with what tracemalloc saw stay alive. Counting
    up to twice what is kept is the price of a bound that never undercounts."""
    bounds = {f"{setting}_bytes": 10**5 for setting in SETTINGS.values()}
    bounds |= {f"{setting}_entries": 1 for setting in SETTINGS.values()}
    bounds |= {f"{SETTINGS[cache_name]}_bytes": 10**9, f"{SETTINGS[cache_name]}_entries": 10**6}
    ocsp_responder = responder(pki_home, authorities, **bounds)
    warm, measured = 100, 1200 // per_request
    requests = [
        serials_request(pki_home, 10**9 + n * 4, per_request) for n in range(warm + measured)
    ]
    for data in requests[:warm]:  # first uses fill the library's own caches: not entries
        ocsp_responder.respond(data, NOW)
    cache = ocsp_responder.caches[cache_name]
    counted_before = cache.currsize
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for data in requests[warm:]:
            ocsp_responder.respond(data, NOW)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    kept = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    if cache_name == "requests":
        kept += sum(len(data) + 33 for data in requests[warm:])  # its keys, made before
    counted = cache.currsize - counted_before
    assert kept <= counted <= 2 * kept


# -- the bounded cache itself -----------------------------------------------------------
def test_bounded_lru_evicts_the_least_recently_used_to_its_bytes_and_its_entries() -> None:
    evicted: list[str] = []
    by_entries: BoundedLru[str, int] = BoundedLru(
        max_bytes=10_000, max_entries=4, on_evict=lambda k, v: evicted.append(k)
    )
    by_bytes: BoundedLru[str, int] = BoundedLru(
        max_bytes=1000, max_entries=100, on_evict=lambda k, v: evicted.append(k)
    )
    for n in range(6):
        assert by_entries.put(f"e{n}", n, 10)
        assert by_bytes.put(f"b{n}", n, 200)
    assert (len(by_entries), by_entries.currsize) == (4, 40)
    assert (len(by_bytes), by_bytes.currsize) == (5, 1000)
    assert evicted == ["e0", "e1", "b0"]
    assert not by_bytes.put("huge", 0, 201)  # over a fifth of the bytes: never kept
    assert "huge" not in by_bytes and by_bytes.currsize == 1000
    assert by_bytes.pop("b3") == 3 and "b3" not in evicted  # a pop is not an eviction
    assert by_bytes.currsize == 800


def test_bounded_lru_protects_entries_used_twice() -> None:
    cache: BoundedLru[int, int] = BoundedLru(max_bytes=10_000, max_entries=10)
    for key in range(10):
        cache.put(key, key, 10)
    for key in (0, 1):
        assert cache.get(key) == key  # promoted
    for key in range(100, 200):
        cache.put(key, key, 10)
    assert 0 in cache and 1 in cache
    assert len(cache) == 10


def test_forgetting_after_evictions_finds_only_held_entries(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    """The (issuer, serial) index follows evictions, so it stays as bounded as the cache."""
    cache = CachingSource(
        Recorder(signed), refresh_margin=timedelta(0), max_entries=3, max_bytes=10**6
    )
    for serial in range(1, 7):
        cache.response(admitted(authorities, serial_request(pki_home, serial)), NOW)
    assert len(cache) == 3
    key = issuing_key(authorities)
    assert [cache.forget(key, f"{n:02x}") for n in range(1, 7)] == [0, 0, 0, 1, 1, 1]
    assert len(cache) == 0


# -- the cap on requests in flight --------------------------------------------------------
@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def scope(path: str, method: str = "POST") -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "headers": [],
        "client": ("192.0.2.7", 40000),
    }


class Driven:
    """One request driven by hand: its body arrives only when ``release`` is called."""

    def __init__(self, app: ValidationApp, path: str, body: bytes, method: str = "POST") -> None:
        self.sent: list[Message] = []
        self.reads = 0
        self._body = body
        self._arrived = asyncio.Event()
        self.task = asyncio.create_task(app(scope(path, method), self._receive, self._send))

    def release(self) -> None:
        self._arrived.set()

    async def _receive(self) -> Message:
        self.reads += 1
        await self._arrived.wait()
        return {"type": "http.request", "body": self._body, "more_body": False}

    async def _send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    @property
    def body(self) -> bytes:
        return bytes(self.sent[1]["body"])


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.fixture
def capped(pki_home: PkiHome, tmp_path: Path) -> Iterator[tuple[ValidationApp, Clock]]:
    clock = Clock()
    app = ValidationApp(
        RuntimeConfig(
            pki_dir=str(pki_home.home.pki.root),
            raw_dir=str(tmp_path),
            store_uri=str(pki_home.home.pki.store),
        ),
        max_in_flight=2,
        slow_request_s=30,
        clock=clock,
    )
    app.start()
    yield app, clock
    app.stop()


def test_beyond_the_cap_requests_are_answered_at_once_without_being_read(
    capped: tuple[ValidationApp, Clock], pki_home: PkiHome
) -> None:
    app, _ = capped
    good = serials_request(pki_home, 7, 1)

    async def scenario() -> None:
        stalled = [Driven(app, "/ocsp", good) for _ in range(2)]
        await settle()
        assert app.in_flight == 2
        shed = [
            Driven(app, "/ocsp", good),
            Driven(app, "/ocsp/MEIwQDA", b"", "GET"),
            Driven(app, "/crl/issuing-ca.crl", b"", "GET"),
            Driven(app, "/healthz", b"", "GET"),
        ]
        await asyncio.gather(*(e.task for e in shed))
        assert [e.reads for e in shed] == [0, 0, 0, 0]  # answered without reading
        assert [e.status for e in shed] == [200, 200, 503, 503]
        for exchange in shed[:2]:  # OCSP clients get OCSP's own "try later"
            assert exchange.body == TRY_LATER
            assert exchange.headers[b"content-type"] == b"application/ocsp-response"
        for exchange in shed:
            assert exchange.headers[b"retry-after"] == b"1"
            assert exchange.headers[b"cache-control"] == b"no-store"
            assert exchange.headers[b"connection"] == b"close"
        assert app.shed == 4
        # The admitted ones finish normally and free their slots.
        for exchange in stalled:
            exchange.release()
        await asyncio.gather(*(e.task for e in stalled))
        assert [e.status for e in stalled] == [200, 200]
        answer = ocsp.load_der_ocsp_response(stalled[0].body)
        assert answer.certificate_status is ocsp.OCSPCertStatus.UNKNOWN  # serial 07
        assert app.in_flight == 0
        again = Driven(app, "/ocsp", good)
        again.release()
        await again.task
        assert again.body != TRY_LATER and app.shed == 4

    asyncio.run(scenario())


def test_stalled_clients_give_their_slots_up_when_the_worker_is_full(
    capped: tuple[ValidationApp, Clock], pki_home: PkiHome
) -> None:
    app, clock = capped
    good = serials_request(pki_home, 7, 1)

    async def scenario() -> None:
        stalled = [Driven(app, "/ocsp", good) for _ in range(2)]
        await settle()
        clock.now += 29  # not yet slow: the newcomer is turned away
        early = Driven(app, "/ocsp", good)
        await early.task
        assert early.body == TRY_LATER
        clock.now += 2  # now both have held their slot for 31 s
        late = Driven(app, "/ocsp", good)
        late.release()
        await asyncio.gather(late.task, *(e.task for e in stalled))
        assert late.status == 200 and late.body != TRY_LATER
        for exchange in stalled:
            assert exchange.status == 408
            assert exchange.headers[b"connection"] == b"close"
        assert app.in_flight == 0

    asyncio.run(scenario())


def test_a_cancellation_that_is_not_the_caps_propagates(
    capped: tuple[ValidationApp, Clock], pki_home: PkiHome
) -> None:
    app, _ = capped

    async def scenario() -> None:
        stalled = Driven(app, "/ocsp", serials_request(pki_home, 7, 1))
        await settle()
        stalled.task.cancel()  # as at shutdown
        with pytest.raises(asyncio.CancelledError):
            await stalled.task
        assert stalled.sent == [] and app.in_flight == 0

    asyncio.run(scenario())


def test_the_cap_under_a_real_uvicorn_server(pki_home: PkiHome, tmp_path: Path) -> None:
    """Over real connections: two clients that never finish their bodies fill a worker
    capped at two; the next client gets tryLater at once, and a slot frees when one of
    the stalled clients hangs up."""
    app = ValidationApp(
        RuntimeConfig(
            pki_dir=str(pki_home.home.pki.root),
            raw_dir=str(tmp_path),
            store_uri=str(pki_home.home.pki.store),
        ),
        max_in_flight=2,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            http="httptools",
            lifespan="on",
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    stalled: list[socket.socket] = []
    try:
        wait_for(lambda: server.started)
        for _ in range(2):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0")
            stalled.append(sock)
        wait_for(lambda: app.in_flight == 2)
        good = serials_request(pki_home, 7, 1)
        url = f"http://127.0.0.1:{port}/ocsp"
        with urllib.request.urlopen(urllib.request.Request(url, data=good), timeout=10) as reply:
            assert reply.status == 200 and reply.headers["retry-after"] == "1"
            assert reply.read() == TRY_LATER
        stalled.pop().close()
        wait_for(lambda: app.in_flight == 1)
        with urllib.request.urlopen(urllib.request.Request(url, data=good), timeout=10) as reply:
            answer = ocsp.load_der_ocsp_response(reply.read())
        assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    finally:
        for sock in stalled:
            sock.close()
        server.should_exit = True
        thread.join(timeout=30)


def wait_for(condition: Any, seconds: float = 10.0) -> None:
    """Poll until ``condition()`` holds (a readiness wait, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)
