"""The webhook against a real HTTP server on loopback (httpx and real sockets, nothing
mocked): batches, idempotency keys, retries and their back-off, Retry-After, refusals
that must not be retried, redirects not followed, and secrets kept out of every text.
Back-off delays are tiny and recorded by the injected sleep, never asserted as times."""

from __future__ import annotations

import datetime as dt
import logging
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certsight.settings import CertsightSettings
from tests.conftest import free_port
from tests.warehouse.destinations.support import (
    T0,
    Receiver,
    Reply,
    Sleeps,
    context,
    make_alert,
    start,
    webhook,
)
from warehouse.delivery import deliver_all, load_sinks
from warehouse.destinations import DeliveryError
from warehouse.destinations.http_post import redact_url
from warehouse.destinations.webhook import idempotency_key


def test_webhook_posts_batches_with_token_and_stable_idempotency_keys(
    receivers: list[Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTSIGHT_TEST_HOOK_TOKEN", "tok-123")
    receiver = start(receivers)
    alerts = [make_alert(f"k{n}") for n in (4, 2, 0, 3, 1)]
    sink = webhook(receiver.url, token_env="CERTSIGHT_TEST_HOOK_TOKEN", batch_size=2)
    sink.deliver(alerts)

    assert len(receiver.requests) == 3
    batches = [[a["key"] for a in request.alerts] for request in receiver.requests]
    assert batches == [["k0", "k1"], ["k2", "k3"], ["k4"]]  # sorted: same alerts, same batches
    first = receiver.requests[0]
    assert first.path == "/hooks/certsight"
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["Authorization"] == "Bearer tok-123"
    assert first.headers["User-Agent"] == "certsight-alerts/1"
    assert first.alerts[0] == make_alert("k0").to_json()
    by_key = {alert.key: alert for alert in alerts}
    for request, keys in zip(receiver.requests, batches, strict=True):
        assert request.headers["Idempotency-Key"] == idempotency_key(by_key[k] for k in keys)

    sink.deliver(list(reversed(alerts)))  # the same alerts again, in another order
    again = [request.headers["Idempotency-Key"] for request in receiver.requests[3:]]
    assert again == [request.headers["Idempotency-Key"] for request in receiver.requests[:3]]


def test_idempotency_key_changes_when_an_alert_progresses() -> None:
    before = make_alert("k", count=3)
    later = make_alert("k", count=9, last_seen=T0 + dt.timedelta(hours=1))
    assert idempotency_key([before]) == idempotency_key([make_alert("k", count=3)])
    assert idempotency_key([before]) != idempotency_key([later])


@pytest.mark.parametrize("status", [503, 500, 429])
def test_webhook_retries_transient_answers_with_exponential_backoff(
    receivers: list[Receiver], status: int
) -> None:
    receiver = start(receivers, Reply(status), Reply(status), Reply(status))
    sleeps = Sleeps()
    webhook(receiver.url, sleeps).deliver([make_alert("a"), make_alert("b")])
    assert len(receiver.requests) == 4
    assert sleeps.delays == [0.01, 0.02, 0.04]
    bodies = {request.body for request in receiver.requests}
    keys = {request.headers["Idempotency-Key"] for request in receiver.requests}
    assert len(bodies) == 1
    assert len(keys) == 1


def test_webhook_backoff_is_capped(receivers: list[Receiver]) -> None:
    receiver = start(receivers, *[Reply(503)] * 4)
    sleeps = Sleeps()
    webhook(receiver.url, sleeps, backoff=0.01, backoff_max=0.03).deliver([make_alert("a")])
    assert sleeps.delays == [0.01, 0.02, 0.03, 0.03]


def test_webhook_honours_retry_after(receivers: list[Receiver]) -> None:
    receiver = start(receivers, Reply(429, {"Retry-After": "1"}))
    sleeps = Sleeps()
    webhook(receiver.url, sleeps, backoff_max=2.0).deliver([make_alert("a")])
    assert len(receiver.requests) == 2
    assert sleeps.delays == [1.0]  # longer than the 0.01 s backoff: the receiver's wish


def test_webhook_reads_retry_after_as_an_http_date(receivers: list[Receiver]) -> None:
    past = "Wed, 21 Oct 2015 07:28:00 GMT"  # already due: the backoff alone applies
    receiver = start(receivers, Reply(503, {"Retry-After": past}))
    sleeps = Sleeps()
    webhook(receiver.url, sleeps).deliver([make_alert("a")])
    assert len(receiver.requests) == 2
    assert sleeps.delays == [0.01]


def test_webhook_gives_up_when_retry_after_exceeds_the_cap(receivers: list[Receiver]) -> None:
    receiver = start(receivers, then=Reply(429, {"Retry-After": "120"}))
    sleeps = Sleeps()
    with pytest.raises(DeliveryError, match="retry after 120 s") as caught:
        webhook(receiver.url, sleeps).deliver([make_alert("a")])
    assert len(receiver.requests) == 1
    assert sleeps.delays == []
    assert caught.value.delivered == ()


def test_webhook_reports_exhausted_retries(receivers: list[Receiver]) -> None:
    receiver = start(receivers, then=Reply(503, body=b"maintenance"))
    sleeps = Sleeps()
    with pytest.raises(DeliveryError) as caught:
        webhook(receiver.url, sleeps, retries=2, batch_size=1).deliver(
            [make_alert("a"), make_alert("b")]
        )
    assert len(receiver.requests) == 3  # first batch only: the receiver is down for all
    assert len(sleeps.delays) == 2
    message = caught.value.message
    assert "HTTP 503 Service Unavailable: maintenance (3 attempts)" in message
    assert "1 alerts in later batches not attempted" in message


def test_webhook_400_is_not_retried_and_reported(receivers: list[Receiver]) -> None:
    receiver = start(receivers, then=Reply(400, body=b'{"error": "unknown field evidence"}'))
    sleeps = Sleeps()
    with pytest.raises(DeliveryError, match="HTTP 400 Bad Request") as caught:
        webhook(receiver.url, sleeps).deliver([make_alert("a")])
    assert len(receiver.requests) == 1
    assert sleeps.delays == []
    assert "unknown field evidence" in caught.value.message


def test_webhook_goes_on_after_a_batch_specific_refusal(receivers: list[Receiver]) -> None:
    receiver = start(receivers, Reply(422, body=b"bad batch"))
    with pytest.raises(DeliveryError, match="batch 1/3") as caught:
        webhook(receiver.url, batch_size=1).deliver([make_alert(k) for k in "abc"])
    assert len(receiver.requests) == 3
    assert caught.value.delivered == ("b", "c")


def test_webhook_stops_after_a_configuration_refusal(receivers: list[Receiver]) -> None:
    receiver = start(receivers, then=Reply(401, body=b"who are you"))
    with pytest.raises(DeliveryError, match="HTTP 401") as caught:
        webhook(receiver.url, batch_size=1).deliver([make_alert(k) for k in "abc"])
    assert len(receiver.requests) == 1
    assert "2 alerts in later batches not attempted" in caught.value.message


def test_webhook_does_not_follow_redirects(receivers: list[Receiver]) -> None:
    elsewhere = start(receivers)
    receiver = start(receivers, then=Reply(302, {"Location": elsewhere.url}))
    with pytest.raises(DeliveryError, match="redirects are not followed"):
        webhook(receiver.url).deliver([make_alert("a")])
    assert len(receiver.requests) == 1
    assert elsewhere.requests == []


def test_webhook_connection_refused_is_retried_then_reported() -> None:
    url = f"http://127.0.0.1:{free_port()}/hooks"  # nothing listens there
    sleeps = Sleeps()
    with pytest.raises(DeliveryError, match="cannot connect: Connection refused"):
        webhook(url, sleeps, retries=2).deliver([make_alert("a")])
    assert sleeps.delays == [0.01, 0.02]


def test_webhook_timeout_is_retried(receivers: list[Receiver]) -> None:
    receiver = start(receivers, Reply(200, delay=1.0))
    sleeps = Sleeps()
    webhook(receiver.url, sleeps, timeout=0.2).deliver([make_alert("a")])
    assert len(receiver.requests) == 2
    assert len(sleeps.delays) == 1


@pytest.fixture
def untrusted_https(tmp_path: Path) -> Iterator[str]:
    """An HTTPS receiver on loopback whose self-signed certificate nobody trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield f"https://localhost:{server.server_address[1]}/hooks"
    server.shutdown()
    server.server_close()


def test_webhook_tls_verification_failure_is_not_retried(untrusted_https: str) -> None:
    sleeps = Sleeps()
    with pytest.raises(DeliveryError, match="TLS verification failed"):
        webhook(untrusted_https, sleeps).deliver([make_alert("a")])
    assert sleeps.delays == []


def test_webhook_without_its_token_variable_fails_naming_it(
    receivers: list[Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CERTSIGHT_TEST_UNSET_TOKEN", raising=False)
    receiver = start(receivers)
    with pytest.raises(DeliveryError, match="CERTSIGHT_TEST_UNSET_TOKEN"):
        webhook(receiver.url, token_env="CERTSIGHT_TEST_UNSET_TOKEN").deliver([make_alert("a")])
    assert receiver.requests == []


def test_a_rotated_token_is_used_by_the_next_delivery(
    receivers: list[Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = start(receivers)
    monkeypatch.setenv("CERTSIGHT_TEST_HOOK_TOKEN", "old-token")
    sink = webhook(receiver.url, token_env="CERTSIGHT_TEST_HOOK_TOKEN")
    sink.deliver([make_alert("a")])
    monkeypatch.setenv("CERTSIGHT_TEST_HOOK_TOKEN", "new-token")
    sink.deliver([make_alert("b")])
    tokens = [request.headers["Authorization"] for request in receiver.requests]
    assert tokens == ["Bearer old-token", "Bearer new-token"]


def test_secrets_never_reach_logs_errors_or_reprs(
    receivers: list[Receiver],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    token, signature = "tok-s3cr3t-value", "sig-t0ps3cret"
    monkeypatch.setenv("CERTSIGHT_TEST_HOOK_TOKEN", token)
    receiver = start(
        receivers,
        Reply(503, body=f"overloaded, token {token}".encode()),
        Reply(429, {"Retry-After": "0"}),
        then=Reply(400, body=f"rejected {token} for ?sig={signature}".encode()),
    )
    url = f"{receiver.url}?sig={signature}&v=1"
    settings = CertsightSettings.parse(
        {
            "alerts": {
                "jsonl": "alerts.jsonl",
                "webhook_url": url,
                "webhook_token_env": "CERTSIGHT_TEST_HOOK_TOKEN",
                "webhook_backoff": 0.01,
                "webhook_backoff_max": 0.05,
            }
        }
    )
    caplog.set_level(logging.DEBUG)
    sinks = load_sinks(settings.alerts, context(tmp_path))
    report = deliver_all([make_alert("a")], sinks)

    assert receiver.requests[0].headers["Authorization"] == f"Bearer {token}"
    assert receiver.requests[0].path.endswith(f"?sig={signature}&v=1")
    assert len(receiver.requests) == 3
    assert report.outcome("jsonl").delivered == ("a",)
    assert report.outcome("webhook").failed == ("a",)
    texts = [
        caplog.text,
        *report.outcome("webhook").errors,
        repr(sinks),
        repr(settings),
        str(report),
    ]
    assert "retry 1 of 4" in caplog.text
    assert "HTTP 400" in report.outcome("webhook").errors[0]
    for text in texts:
        assert token not in text
        assert signature not in text
    assert redact_url(url) == f"{receiver.url}?..."
    assert (
        redact_url("https://user:pw@siem.example:8443/h?x=1") == "https://siem.example:8443/h?..."
    )
