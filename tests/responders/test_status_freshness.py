"""Issue 10, item 8: statuses expire, and a response claims no freshness it does not have.

A response's thisUpdate is when its status was read from the store, never when it was
signed; a remembered status is signed again only for a while after its read, and only
while the change feed that would report a change to it is followed. When the store stops
answering mid-run, responses still within their validity keep being served, then the
answer is tryLater; the metrics and one log line per transition say so, and a store that
comes back restores normal service.

Real parts throughout: the SQLite store of a test home (wrapped, for the outage, in a
store whose reads start failing), the real responder and HTTP layer, a held clock instead
of sleeping, and for ``/metrics`` a real uvicorn server on 127.0.0.1. The Lambda test
breaks the real SQLite store itself (its change log table goes away, then comes back).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography.x509 import ocsp
from prometheus_client.parser import text_string_to_metric_families

from pki.reasons import RevocationReason
from pki.store.base import (
    CertificateRecord,
    CertificateStore,
    Change,
    StoreUnavailableError,
)
from pki.store.sqlite import SqliteStore
from responders import lambda_handler
from responders.ocsp.authority import AuthorityIndex
from responders.ocsp.responder import OcspResponder, ResponderSettings
from responders.web import metrics
from responders.web.asgi import ValidationApp
from responders.web.exchange import HttpRequest
from responders.web.runtime import Runtime, RuntimeConfig, build_runtime
from tests.conftest import PkiHome, free_port, make_home, start_server
from tests.responders.test_asgi import call, scope
from tests.responders.test_lambda import FakeContext, ocsp_request, v2_event
from tests.responders.test_ocsp_core import load, request_der

T0 = datetime(2026, 6, 1, 12, 0, 0, 250_000, tzinfo=UTC)  # a fraction: thisUpdate rounds down
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
FEED_LOGGER = "responders.web.feed_health"


class HeldClock:
    """Time that moves only when the test says so."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class FailingStore:
    """The real SQLite store, whose reads fail while ``down`` is set: the certificate
    store of a deployment becoming unreachable mid-run. Writes go through regardless
    (another host revokes while this responder cannot read)."""

    def __init__(self, inner: SqliteStore) -> None:
        self.inner = inner
        self.down = False
        self.failed_reads = 0

    def _check(self) -> None:
        if self.down:
            self.failed_reads += 1
            raise StoreUnavailableError("connection refused")

    def get(self, issuer_key_sha1: str, serial: str) -> CertificateRecord | None:
        self._check()
        return self.inner.get(issuer_key_sha1, serial)

    def changes_since(self, sequence: int) -> Sequence[Change]:
        self._check()
        return self.inner.changes_since(sequence)

    def find_serial(self, serial: str) -> Sequence[CertificateRecord]:
        self._check()
        return self.inner.find_serial(serial)

    def revoked(self, issuer_key_sha1: str) -> Iterator[CertificateRecord]:
        self._check()
        return self.inner.revoked(issuer_key_sha1)

    def add(self, record: CertificateRecord) -> None:
        self.inner.add(record)

    def revoke(
        self, issuer_key_sha1: str, serial: str, when: datetime, reason: RevocationReason
    ) -> CertificateRecord:
        return self.inner.revoke(issuer_key_sha1, serial, when, reason)

    def next_crl_number(self, issuer_key_sha1: str) -> int:
        return self.inner.next_crl_number(issuer_key_sha1)

    def close(self) -> None:
        self.inner.close()


def _as_store(store: FailingStore) -> CertificateStore:
    return store  # mypy checks here that the double is a whole CertificateStore


def parsed(body: bytes) -> ocsp.OCSPResponse:
    return ocsp.load_der_ocsp_response(body)


def second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


# -- the responder alone -------------------------------------------------------------------
def test_this_update_is_when_the_status_was_read_not_when_it_was_signed(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    clock = HeldClock()
    responder = OcspResponder(authorities, pki_home.store(), clock)
    issuer = load(pki_home.home.pki.issuing_cert)
    plain = request_der(load(pki_home.good), issuer)
    first = parsed(responder.respond(plain).body)
    assert first.this_update_utc == second(T0)
    assert first.next_update_utc == second(T0) + HOUR

    # A nonce request five minutes later is signed now from the remembered status: it
    # says when it was produced, but claims the status only as of its read.
    clock.now = T0 + 5 * MINUTE
    nonce = request_der(load(pki_home.good), issuer, nonce=b"n" * 16)
    later = parsed(responder.respond(nonce).body)
    assert later.produced_at_utc == second(clock.now)
    assert later.this_update_utc == second(T0)
    assert later.next_update_utc == second(T0) + HOUR

    # Past the reuse period (half of validity minus refresh margin: 25 minutes) the
    # store is read again, and that read is the new thisUpdate.
    clock.now = T0 + 26 * MINUTE
    fresh = parsed(
        responder.respond(request_der(load(pki_home.good), issuer, nonce=b"m" * 16)).body
    )
    assert fresh.this_update_utc == second(clock.now)


def test_an_outage_serves_cached_responses_within_their_validity_then_try_later(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    clock = HeldClock()
    store = FailingStore(pki_home.store())
    responder = OcspResponder(
        authorities,
        store,
        clock,
        ResponderSettings(validity=HOUR, refresh_margin=10 * MINUTE),
    )
    plain = request_der(load(pki_home.good), load(pki_home.home.pki.issuing_cert))
    first = responder.respond(plain)
    store.down = True

    # Past the refresh point the response cannot be renewed: the one in hand is still
    # true to what it claims until its nextUpdate, so it is served, not re-signed.
    clock.now = T0 + 55 * MINUTE
    kept = responder.respond(plain)
    assert kept.status.name == "successful" and kept.cache_hit
    assert kept.body == first.body and kept.this_update == second(T0)
    assert store.failed_reads == 1
    # The store failed a moment ago: it is not asked again for every request.
    assert responder.respond(plain).body == first.body
    assert store.failed_reads == 1

    clock.now = second(T0) + HOUR  # its nextUpdate: no longer valid
    assert responder.respond(plain).status.name == "tryLater"

    store.down = False  # the store comes back: the next read restores service
    clock.now += 3 * MINUTE
    back = responder.respond(plain)
    assert back.status.name == "successful" and not back.cache_hit
    assert back.this_update == second(clock.now)


# -- the runtime: change feed, responder, HTTP layer and metrics ----------------------------
def scrape() -> dict[str, float]:
    """The metrics as ``GET /metrics`` serves them, by sample name and labels."""
    text = metrics.exposition().decode()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def ask(runtime: Runtime, data: bytes) -> ocsp.OCSPResponse:
    exchange = runtime.service.handle(HttpRequest("POST", "/ocsp", {}, data, "192.0.2.7"))
    assert exchange.reply.status == 200
    return parsed(exchange.reply.body)


def feed_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [
        (r.levelname, r.getMessage().split(":")[0]) for r in caplog.records if r.name == FEED_LOGGER
    ]


def test_a_store_that_fails_mid_run_then_comes_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = make_home(tmp_path)
    clock = HeldClock()
    store = FailingStore(home.store())
    runtime = build_runtime(
        RuntimeConfig(
            pki_dir=str(home.pki),
            raw_dir=None,
            store_uri=str(home.home.pki.store),
            roles=("ocsp",),
            status_max_age_s=300,
        ),
        adapter="test",
        store=_as_store(store),
        clock=clock,
    )
    issuer = load(home.home.pki.issuing_cert)
    plain = request_der(load(home.good), issuer)

    def nonce(n: int) -> bytes:
        return request_der(load(home.good), issuer, nonce=n.to_bytes(16, "big"))

    def poll_until(moment: datetime) -> None:
        """The adapters' poll loop, every 20 seconds of held time."""
        while clock.now < moment:
            clock.now = min(clock.now + timedelta(seconds=20), moment)
            runtime.sync()

    metrics.track(runtime)  # what the local server does at start (asgi.py)
    before = scrape()
    assert before["certsight_status_feed_last_success_timestamp_seconds"] == T0.timestamp()
    assert before["certsight_status_max_age_seconds"] == 300
    assert before["certsight_status_feed_failing"] == 0
    assert before["certsight_status_feed_failures_total"] == 0
    first = ask(runtime, plain)
    assert first.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert first.this_update_utc == second(T0)

    # The store becomes unreachable, and meanwhile the certificate is revoked elsewhere.
    poll_until(T0 + MINUTE)
    caplog.set_level(logging.WARNING, logger=FEED_LOGGER)
    store.down = True
    record = store.inner.find_serial(home.good_serial)[0]
    store.inner.revoke(record.issuer_key_sha1, record.serial, T0, RevocationReason.keyCompromise)
    poll_until(T0 + 2 * MINUTE)  # three failed polls: one line
    assert feed_lines(caplog) == [("WARNING", "status feed failing")]
    failing = scrape()
    assert failing["certsight_status_feed_failing"] == 1
    assert failing["certsight_status_feed_failures_total"] == 3
    assert (
        failing["certsight_status_feed_last_success_timestamp_seconds"] == (T0 + MINUTE).timestamp()
    )

    # Within status_max_age a remembered status is still signed, claiming its read time.
    within = ask(runtime, nonce(1))
    assert within.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert within.this_update_utc == second(T0) and within.produced_at_utc == second(clock.now)

    # Past it, nothing remembered is signed again: a nonce needs a read, which fails...
    poll_until(T0 + 7 * MINUTE)  # 5 minutes after the last success (T0 + 1): stale
    assert feed_lines(caplog)[-1] == ("ERROR", "status feed stale")
    assert scrape()["certsight_ocsp_trylater_total{reason=store}"] == 0
    assert ask(runtime, nonce(2)).response_status is ocsp.OCSPResponseStatus.TRY_LATER
    # ... while the signed response in hand is served for as long as it is valid,
    poll_until(T0 + 55 * MINUTE)  # past its refresh point (nextUpdate - 10 minutes)
    served = ask(runtime, plain)
    assert served.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert served.this_update_utc == second(T0)
    assert served.certificate_status is ocsp.OCSPCertStatus.GOOD
    # ... and then no longer: tryLater.
    poll_until(second(T0) + HOUR)
    assert ask(runtime, plain).response_status is ocsp.OCSPResponseStatus.TRY_LATER
    after = scrape()
    assert after["certsight_ocsp_trylater_total{reason=store}"] == 2
    assert after["certsight_ocsp_trylater_total{reason=busy}"] == 0
    assert after["certsight_status_feed_failing"] == 1
    # One line per transition, and a reminder a minute, not one per poll: the first
    # failure at T0 + 1:20, then reminders at each minute and 20 seconds from 2:20 to
    # 59:20 (58), except at 6:20, when the feed turned stale and said that instead.
    lines = feed_lines(caplog)
    reminder = ("ERROR", "status feed still failing")
    assert lines[0] == ("WARNING", "status feed failing")
    assert lines[5] == ("ERROR", "status feed stale")
    assert lines[1:5] + lines[6:] == [reminder] * 57

    # The store comes back. A read that succeeds is signed at once, with its read time,
    # even before the feed is followed again: it tells the revocation.
    store.down = False
    clock.now += 2 * timedelta(seconds=2)  # past the pause after the last failed read
    back = ask(runtime, plain)
    assert back.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert back.this_update_utc == second(clock.now)
    poll_until(clock.now + MINUTE)
    assert feed_lines(caplog)[-1] == ("WARNING", "status feed recovered")
    recovered = scrape()
    assert recovered["certsight_status_feed_failing"] == 0
    assert recovered["certsight_status_feed_last_success_timestamp_seconds"] == (
        clock.now.timestamp()
    )
    # The feed delivered the revocation it had missed, which dropped what was
    # remembered of the certificate: read afresh, then remembered and trusted again.
    again = ask(runtime, nonce(3))
    assert again.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert again.this_update_utc == second(clock.now)
    clock.now += MINUTE
    remembered = ask(runtime, nonce(4))
    assert remembered.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert remembered.this_update_utc == again.this_update_utc


# -- /metrics ------------------------------------------------------------------------------
def test_metrics_are_answered_to_loopback_peers_only(pki_home: PkiHome, tmp_path: Path) -> None:
    app = ValidationApp(
        RuntimeConfig(
            pki_dir=str(pki_home.pki),
            raw_dir=str(tmp_path),
            store_uri=str(pki_home.home.pki.store),
        )
    )
    app.start()
    try:
        unknown = call(app, scope("/nothing-here", "GET", client=("192.0.2.4", 40000)), [b""])
        for client in (("127.0.0.1", 40001), ("::1", 40002), ("::ffff:127.0.0.1", 40003)):
            start, body = call(app, scope("/metrics", "GET", client=client), [b""])
            assert start["status"] == 200, client
            headers = dict(start["headers"])
            assert headers[b"content-type"].startswith(b"text/plain; version=0.0.4")
            assert headers[b"cache-control"] == b"no-store"
            assert b"certsight_status_feed_last_success_timestamp_seconds " in body["body"]
        # Anyone else, even claiming loopback in a header, gets the ordinary 404.
        forwarded = [(b"x-forwarded-for", b"127.0.0.1"), (b"cloudfront-viewer-address", b"::1:1")]
        for client, headers_in in ((("192.0.2.4", 40004), forwarded), (("10.0.0.1", 1), [])):
            sent = call(app, scope("/metrics", "GET", headers_in, client=client), [b""])
            assert sent[0]["status"] == 404
            assert sent[1]["body"] == unknown[1]["body"]
        assert (
            call(app, scope("/metrics", "POST", client=("127.0.0.1", 1)), [b""])[0]["status"] == 404
        )
    finally:
        app.stop()


def test_a_full_worker_still_answers_metrics_and_counts_what_it_shed(
    pki_home: PkiHome, tmp_path: Path
) -> None:
    """A worker whose one slot is held by a client still sending its body sheds OCSP
    requests with tryLater (reason="busy") and still answers the scrape."""
    app = ValidationApp(
        RuntimeConfig(
            pki_dir=str(pki_home.pki),
            raw_dir=str(tmp_path),
            store_uri=str(pki_home.home.pki.store),
        ),
        max_in_flight=1,
    )
    app.start()

    async def scenario() -> list[bytes]:
        held = asyncio.Event()
        sent: list[Any] = []

        async def stalled() -> dict[str, Any]:
            await held.wait()
            return {"type": "http.request", "body": b"", "more_body": False}

        async def keep(message: Any) -> None:
            sent.append(message)

        slow = asyncio.create_task(app(scope("/ocsp", client=("192.0.2.9", 1)), stalled, keep))
        for _ in range(5):
            await asyncio.sleep(0)
        assert app.in_flight == 1
        bodies = []
        for path, client in (("/ocsp", ("192.0.2.8", 2)), ("/metrics", ("127.0.0.1", 3))):
            replies: list[Any] = []

            async def nothing() -> dict[str, Any]:
                return {"type": "http.disconnect"}

            async def collect(message: Any, into: list[Any] = replies) -> None:
                into.append(message)

            await app(
                scope(path, "GET" if path == "/metrics" else "POST", client=client),
                nothing,
                collect,
            )
            assert replies[0]["status"] == 200
            bodies.append(replies[1]["body"])
        held.set()
        await slow
        return bodies

    try:
        shed, scraped = asyncio.run(scenario())
    finally:
        app.stop()
    assert parsed(shed).response_status is ocsp.OCSPResponseStatus.TRY_LATER
    samples = {
        (sample.name, sample.labels.get("reason")): sample.value
        for family in text_string_to_metric_families(scraped.decode())
        for sample in family.samples
    }
    assert samples[("certsight_ocsp_trylater_total", "busy")] == 1
    assert samples[("certsight_ocsp_trylater_total", "store")] == 0


def test_metrics_over_a_real_server(pki_home: PkiHome, tmp_path: Path) -> None:
    app = ValidationApp(
        RuntimeConfig(
            pki_dir=str(pki_home.pki),
            raw_dir=str(tmp_path),
            store_uri=str(pki_home.home.pki.store),
        )
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            assert reply.status == 200
            text = reply.read().decode()
        names = {family.name for family in text_string_to_metric_families(text)}
        assert {
            "certsight_status_feed_last_success_timestamp_seconds",
            "certsight_status_feed_failures",
            "certsight_status_feed_failing",
            "certsight_ocsp_trylater",
        } <= names
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_serve_takes_status_max_age_and_shows_it_in_its_metrics(pki_home: PkiHome) -> None:
    """``certsight serve --status-max-age`` as an operator runs it: the setting reaches
    the worker, whose /metrics answers over real loopback HTTP."""
    running = start_server(pki_home, "ocsp", "--status-max-age", "120")
    try:
        with urllib.request.urlopen(f"{running.url}/metrics", timeout=10) as reply:
            text = reply.read().decode()
        samples = {
            sample.name: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
        assert samples["certsight_status_max_age_seconds"] == 120
        assert samples["certsight_status_feed_failing"] == 0
    finally:
        assert running.stop() == 0


# -- Lambda: no /metrics, log lines ---------------------------------------------------------
@pytest.fixture
def lambda_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PkiHome]:
    made = make_home(tmp_path)
    monkeypatch.setenv("CERTSIGHT_PKI_DIR", str(made.pki))
    monkeypatch.setenv("CERTSIGHT_STORE", str(made.home.pki.store))
    monkeypatch.setenv("CERTSIGHT_ROLES", "ocsp")
    monkeypatch.setenv("CERTSIGHT_POLL_SECONDS", "0.01")
    monkeypatch.delenv("CERTSIGHT_STATUS_MAX_AGE", raising=False)
    lambda_handler.reset_for_tests()
    yield made
    lambda_handler.reset_for_tests()


def test_lambda_logs_a_failing_feed_once_and_its_recovery(
    lambda_home: PkiHome, caplog: pytest.LogCaptureFixture
) -> None:
    """The real SQLite store loses its change log table (then gets it back): in Lambda
    the feed is polled on the request path, and what shows is one line per transition."""
    caplog.set_level(logging.WARNING, logger=FEED_LOGGER)
    der = ocsp_request(lambda_home, lambda_home.good)
    assert lambda_handler.frontend().runtime.config.status_max_age_s == 300
    event = v2_event("POST", "/ocsp", der)
    assert lambda_handler.handler(event, FakeContext())["statusCode"] == 200
    assert lambda_handler.handler(v2_event("GET", "/metrics"), FakeContext())["statusCode"] == 404

    database = sqlite3.connect(lambda_home.home.pki.store)
    try:
        database.execute("ALTER TABLE changes RENAME TO changes_away")
        database.commit()

        def said(prefix: str) -> bool:
            lambda_handler.handler(event, FakeContext())
            return any(p == prefix for _, p in feed_lines(caplog))

        wait_for(lambda: said("status feed failing"))
        for _ in range(5):  # more requests, more polls: no more lines
            assert lambda_handler.handler(event, FakeContext())["statusCode"] == 200
        assert feed_lines(caplog) == [("WARNING", "status feed failing")]

        database.execute("ALTER TABLE changes_away RENAME TO changes")
        database.commit()
        wait_for(lambda: said("status feed recovered"))
        assert feed_lines(caplog) == [
            ("WARNING", "status feed failing"),
            ("WARNING", "status feed recovered"),
        ]
    finally:
        database.close()


def test_lambda_does_not_import_prometheus_client() -> None:
    """No /metrics in Lambda, so no import of the library on its cold start."""
    import subprocess
    import sys

    script = (
        "import sys, responders.lambda_handler\n"
        "sys.exit(1 if 'prometheus_client' in sys.modules else 0)\n"
    )
    assert subprocess.run([sys.executable, "-c", script], check=False).returncode == 0


@pytest.mark.parametrize(("value", "expected"), [("120", 120), ("", 300)])
def test_lambda_takes_status_max_age_from_its_environment(
    lambda_home: PkiHome, monkeypatch: pytest.MonkeyPatch, value: str, expected: int
) -> None:
    monkeypatch.setenv("CERTSIGHT_STATUS_MAX_AGE", value)
    assert lambda_handler.frontend().runtime.config.status_max_age_s == expected


@pytest.mark.parametrize("value", ["5m", "-1", "0", "²"])
def test_lambda_refuses_a_status_max_age_it_cannot_use(
    lambda_home: PkiHome, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CERTSIGHT_STATUS_MAX_AGE", value)
    with pytest.raises((RuntimeError, ValueError), match=r"CERTSIGHT_STATUS_MAX_AGE|status max"):
        lambda_handler.frontend()


def wait_for(condition: Any, seconds: float = 10.0) -> None:
    """Poll until ``condition()`` holds (a readiness wait, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def test_only_the_exact_metrics_path_is_metrics(pki_home: PkiHome, tmp_path: Path) -> None:
    """``/metrics/`` and friends are other paths: 404 even from loopback."""
    app = ValidationApp(
        RuntimeConfig(
            pki_dir=str(pki_home.pki),
            raw_dir=str(tmp_path),
            store_uri=str(pki_home.home.pki.store),
        )
    )
    app.start()
    try:
        for path in ("/metrics/", "/metricsx", "/METRICS"):
            assert call(app, scope(path, "GET", client=("127.0.0.1", 1)), [b""])[0]["status"] == 404
    finally:
        app.stop()
