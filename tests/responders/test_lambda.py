"""The Lambda entry point driven with real-shaped Function URL / HTTP API v2 events.

The handler is called in-process, as the Lambda runtime calls it: a payload 2.0
event, a context object, a dict back. Access-log records are the Powertools Logger
JSON lines on stdout, one per request, with the LAKE's field names at the top level.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.hashes import SHA1, SHA256
from cryptography.x509 import ocsp

from issuance.operations import revoke_serial
from pki.reasons import RevocationReason
from pki.store.sqlite import SqliteStore
from responders import lambda_handler
from tests.conftest import PkiHome, make_home

EVENT_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
SERIAL = re.compile(r"(?:[0-9a-f]{2})+")
SOURCE_IP = "203.0.113.9"
ReadLogs = Callable[[], list[dict[str, Any]]]


@dataclass(frozen=True)
class FakeContext:
    aws_request_id: str = "7f3c9e1a-4b2d-4c8e-9f10-2a3b4c5d6e7f"
    function_name: str = "certsight-validation"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = (
        "arn:aws:lambda:eu-west-1:123456789012:function:certsight-validation"
    )

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


class CurrentStdout:
    """A stream that is always the current ``sys.stdout``."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PkiHome]:
    made = make_home(tmp_path)
    monkeypatch.setenv("CERTSIGHT_PKI_DIR", str(made.pki))
    monkeypatch.setenv("CERTSIGHT_STORE", str(made.home.pki.store))
    monkeypatch.delenv("CERTSIGHT_ROLES", raising=False)
    monkeypatch.delenv("CERTSIGHT_POLL_SECONDS", raising=False)
    monkeypatch.delenv("CERTSIGHT_CDN_MAX_AGE", raising=False)
    lambda_handler.reset_for_tests()
    yield made
    lambda_handler.reset_for_tests()


@pytest.fixture
def read_logs(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> ReadLogs:
    """Parsed stdout JSON lines since the last call.

    The Logger's handler kept the ``sys.stdout`` of import time, and capsys swaps its
    stream between setup and call: write through to whatever ``sys.stdout`` is now.
    """
    handler = lambda_handler.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    monkeypatch.setattr(handler, "stream", CurrentStdout())

    def read() -> list[dict[str, Any]]:
        lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
        return [json.loads(line) for line in lines]

    return read


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def ocsp_request(home: PkiHome, leaf: Path) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        load_cert(leaf), load_cert(home.pki / "issuing-ca.pem"), SHA1()
    )
    return builder.build().public_bytes(serialization.Encoding.DER)


def v2_event(
    method: str,
    raw_path: str,
    body: bytes | None = None,
    *,
    headers: dict[str, str] | None = None,
    source_ip: str = SOURCE_IP,
    request_id: str = "JKJaXmPLvHcESHA=",
) -> dict[str, Any]:
    """A Function URL event as Lambda delivers it (payload format 2.0)."""
    all_headers = {
        "host": "abcdefghij.lambda-url.eu-west-1.on.aws",
        "user-agent": "test-client/1.0",
        "accept": "*/*",
        "x-forwarded-for": source_ip,
        "x-forwarded-proto": "https",
        "x-forwarded-port": "443",
        "x-amzn-trace-id": "Root=1-65f1c2d3-0123456789abcdef01234567",
    }
    if body is not None:
        all_headers["content-type"] = "application/ocsp-request"
        all_headers["content-length"] = str(len(body))
    all_headers.update(headers or {})
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": all_headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghij",
            "domainName": "abcdefghij.lambda-url.eu-west-1.on.aws",
            "domainPrefix": "abcdefghij",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": all_headers["user-agent"],
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": "28/Nov/2026:08:32:00 +0000",
            "timeEpoch": 1_795_768_320_000,
        },
        "isBase64Encoded": body is not None,
    }
    if body is not None:
        event["body"] = base64.b64encode(body).decode("ascii")
    return event


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    return lambda_handler.handler(event, FakeContext())


def body_of(result: dict[str, Any]) -> bytes:
    assert result["isBase64Encoded"] is True
    return base64.b64decode(result["body"], validate=True)


def ocsp_response_of(result: dict[str, Any]) -> ocsp.OCSPResponse:
    assert result["statusCode"] == 200, result
    assert result["headers"]["content-type"] == "application/ocsp-response"
    response = ocsp.load_der_ocsp_response(body_of(result))
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    return response


def assert_signed_by_delegated_signer(home: PkiHome, response: ocsp.OCSPResponse) -> None:
    signer = response.certificates[0]
    assert signer == load_cert(home.pki / "ocsp-signer.pem")
    key = signer.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(SHA256()))


def assert_lake_record(
    record: dict[str, Any],
    *,
    method: str,
    http_status: int,
    response_status: str,
    serial: str,
    cert_status: str,
) -> None:
    assert record["log"] == "ocsp"
    assert EVENT_TIME.fullmatch(record["event_time"]), record["event_time"]
    moment = datetime.strptime(record["event_time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 60
    assert record["http_method"] == method
    assert record["http_status"] == http_status
    assert record["response_status"] == response_status
    assert record["adapter"] == "lambda"
    [cert_id] = record["cert_ids"]
    assert SERIAL.fullmatch(cert_id["serial"]), cert_id
    assert cert_id["serial"] == serial
    assert cert_id["cert_status"] == cert_status
    assert cert_id["hash_algorithm"] == "sha1"


def test_post_good_certificate(home: PkiHome, read_logs: ReadLogs) -> None:
    der = ocsp_request(home, home.good)
    result = invoke(v2_event("POST", "/ocsp", der, request_id="req-good-1"))

    response = ocsp_response_of(result)
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert response.serial_number == load_cert(home.good).serial_number
    assert_signed_by_delegated_signer(home, response)
    control = result["headers"]["cache-control"]
    assert control.startswith("max-age=300, public, no-transform, stale-if-error="), control

    [record] = read_logs()
    assert_lake_record(
        record,
        method="POST",
        http_status=200,
        response_status="successful",
        serial=home.good_serial,
        cert_status="good",
    )
    assert record["request_id"] == "req-good-1"
    assert record["request_bytes"] == len(der)
    assert record["response_bytes"] == len(body_of(result))
    assert record["client_ip"] == SOURCE_IP
    assert record["user_agent"] == "test-client/1.0"
    assert record["path"] == "/ocsp"


@pytest.mark.parametrize("path", ["/ocsp", "/crl/issuing-ca.crl"])
def test_cdn_max_age_comes_from_the_environment(
    home: PkiHome, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """CERTSIGHT_CDN_MAX_AGE caps max-age on OCSP and CRL answers; the rest of the
    validity goes to stale-if-error (exact values at held moments:
    test_cdn_cache_headers.py)."""
    monkeypatch.setenv("CERTSIGHT_CDN_MAX_AGE", "120")
    body = ocsp_request(home, home.good) if path == "/ocsp" else None
    result = invoke(v2_event("POST" if body else "GET", path, body))
    assert result["statusCode"] == 200
    control = result["headers"]["cache-control"]
    assert re.fullmatch(r"max-age=120, public, no-transform, stale-if-error=\d+", control)
    assert lambda_handler.frontend().runtime.config.cdn_max_age_s == 120


@pytest.mark.parametrize("value", ["0", "-5", "5m", "1.5", "\u00b2", "300s"])
def test_a_cdn_max_age_that_is_not_a_positive_integer_is_refused(
    home: PkiHome, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CERTSIGHT_CDN_MAX_AGE", value)
    message = f"CERTSIGHT_CDN_MAX_AGE must be a positive whole number of seconds, not {value!r}"
    with pytest.raises(RuntimeError, match=re.escape(message)):
        invoke(v2_event("POST", "/ocsp", ocsp_request(home, home.good)))


def test_post_revoked_certificate(home: PkiHome, read_logs: ReadLogs) -> None:
    result = invoke(v2_event("POST", "/ocsp", ocsp_request(home, home.revoked)))

    response = ocsp_response_of(result)
    assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_reason is x509.ReasonFlags.key_compromise
    assert response.revocation_time_utc is not None
    assert_signed_by_delegated_signer(home, response)

    [record] = read_logs()
    assert_lake_record(
        record,
        method="POST",
        http_status=200,
        response_status="successful",
        serial=home.revoked_serial,
        cert_status="revoked",
    )


@pytest.mark.parametrize("percent_encoded", [False, True], ids=["raw-base64", "percent-encoded"])
def test_get_with_request_in_path(
    home: PkiHome, read_logs: ReadLogs, percent_encoded: bool
) -> None:
    b64 = base64.b64encode(ocsp_request(home, home.revoked)).decode("ascii")
    raw_path = "/ocsp/" + (quote(b64, safe="") if percent_encoded else b64)
    result = invoke(v2_event("GET", raw_path))

    response = ocsp_response_of(result)
    assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_reason is x509.ReasonFlags.key_compromise
    assert_signed_by_delegated_signer(home, response)

    [record] = read_logs()
    assert_lake_record(
        record,
        method="GET",
        http_status=200,
        response_status="successful",
        serial=home.revoked_serial,
        cert_status="revoked",
    )
    assert record["path"] == raw_path
    assert record["request_bytes"] == 0


ORIGIN_SECRET = "origin-secret-from-the-cdn"


@pytest.mark.parametrize(
    ("viewer_address", "client_ip"),
    [
        ("198.51.100.7:46532", "198.51.100.7"),
        ("2001:db8::5:443", "2001:db8::5"),
        (None, SOURCE_IP),
        ("not-an-address:443", SOURCE_IP),
    ],
    ids=["ipv4", "ipv6", "absent", "malformed"],
)
def test_client_ip_and_cloudfront_request_id(
    home: PkiHome,
    read_logs: ReadLogs,
    monkeypatch: pytest.MonkeyPatch,
    viewer_address: str | None,
    client_ip: str,
) -> None:
    """Behind the CDN (trust on, the origin secret configured and sent by CloudFront)."""
    monkeypatch.setenv("CERTSIGHT_TRUST_VIEWER_ADDRESS", "1")
    monkeypatch.setenv("CERTSIGHT_ORIGIN_SECRET", f"old-secret, {ORIGIN_SECRET}")
    headers = {
        "x-amz-cf-id": "Gf4i9_2yVd0sH5bYp1zQ8C0wXvF3kR7mN6jL2aT9uE1oI4pD5sA==",
        "x-certsight-origin-secret": ORIGIN_SECRET,
    }
    if viewer_address is not None:
        headers["cloudfront-viewer-address"] = viewer_address
    result = invoke(v2_event("POST", "/ocsp", ocsp_request(home, home.good), headers=headers))
    assert result["statusCode"] == 200

    [record] = read_logs()
    assert record["client_ip"] == client_ip
    assert record["cf_request_id"] == headers["x-amz-cf-id"]


@pytest.mark.parametrize(
    ("trust", "secret", "sent_secret", "status", "client_ip"),
    [
        (None, None, None, 200, SOURCE_IP),  # the default: the header is anyone's to write
        ("1", None, None, 200, SOURCE_IP),  # trust asked for, but no secret to prove the CDN
        ("1", ORIGIN_SECRET, "guessed", 403, None),  # not through the CDN: refused
        ("1", ORIGIN_SECRET, None, 403, None),
        (None, ORIGIN_SECRET, ORIGIN_SECRET, 200, SOURCE_IP),  # through the CDN, no trust
    ],
    ids=["default", "no-secret", "wrong-secret", "missing-secret", "secret-without-trust"],
)
def test_a_viewer_address_sent_directly_is_not_believed(
    home: PkiHome,
    read_logs: ReadLogs,
    monkeypatch: pytest.MonkeyPatch,
    trust: str | None,
    secret: str | None,
    sent_secret: str | None,
    status: int,
    client_ip: str | None,
) -> None:
    for name, value in (
        ("CERTSIGHT_TRUST_VIEWER_ADDRESS", trust),
        ("CERTSIGHT_ORIGIN_SECRET", secret),
    ):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    headers = {"cloudfront-viewer-address": "10.1.2.3:443"}  # an internal host, spoofed
    if sent_secret is not None:
        headers["x-certsight-origin-secret"] = sent_secret
    result = invoke(v2_event("POST", "/ocsp", ocsp_request(home, home.good), headers=headers))
    assert result["statusCode"] == status
    records = [r for r in read_logs() if r.get("log") == "ocsp"]
    if client_ip is None:
        assert records == []
    else:
        assert [r["client_ip"] for r in records] == [client_ip]


def test_without_cloudfront_headers_cf_request_id_is_absent(
    home: PkiHome, read_logs: ReadLogs
) -> None:
    invoke(v2_event("POST", "/ocsp", ocsp_request(home, home.good)))
    [record] = read_logs()
    # Powertools Logger leaves out keys whose value is None (the local server writes null).
    assert "cf_request_id" not in record
    assert record["client_ip"] == SOURCE_IP


def test_body_over_the_cap_is_refused(home: PkiHome, read_logs: ReadLogs) -> None:
    cap = 16 * 1024
    oversized = ocsp_request(home, home.good) + b"\x00" * cap
    result = invoke(v2_event("POST", "/ocsp", oversized))

    assert result["statusCode"] == 413
    assert result["headers"]["content-type"] == "text/plain"
    assert result["headers"]["cache-control"] == "no-store"
    assert b"too large" in body_of(result)
    [record] = read_logs()
    assert record["log"] == "ocsp"
    assert record["http_status"] == 413
    assert record["error"] == "body too large"


def test_body_at_the_cap_is_not_refused_for_size(home: PkiHome, read_logs: ReadLogs) -> None:
    """16 KiB of garbage is an OCSP error (malformedRequest), not an HTTP one."""
    result = invoke(v2_event("POST", "/ocsp", b"\x30" + b"\x00" * (16 * 1024 - 1)))
    assert result["statusCode"] == 200
    response = ocsp.load_der_ocsp_response(body_of(result))
    assert response.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    [record] = read_logs()
    assert record["http_status"] == 200
    assert record["response_status"] == "malformedRequest"


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"version": "1.0", "httpMethod": "POST", "path": "/ocsp", "body": None},
        {"requestContext": {"requestId": "x"}},
        {"requestContext": {"http": {"method": "POST"}}, "isBase64Encoded": True, "body": "!!"},
    ],
    ids=["empty", "rest-api-v1", "no-http", "bad-base64"],
)
def test_event_that_is_not_http_api_v2_gets_400(
    home: PkiHome, read_logs: ReadLogs, event: dict[str, Any]
) -> None:
    result = invoke(event)
    assert result["statusCode"] == 400
    assert result["isBase64Encoded"] is True
    assert body_of(result) == b"not an HTTP API v2 event\n"
    assert read_logs() == []


def test_revocation_reaches_a_warm_container(
    home: PkiHome, read_logs: ReadLogs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTSIGHT_POLL_SECONDS", "0.2")
    der = ocsp_request(home, home.good)
    first = ocsp_response_of(invoke(v2_event("POST", "/ocsp", der)))
    assert first.certificate_status is ocsp.OCSPCertStatus.GOOD
    # The answer is cached in the warm container: the change feed must invalidate it.
    second = ocsp_response_of(invoke(v2_event("POST", "/ocsp", der)))
    assert second.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert read_logs()[-1]["cache_hit"] is True

    revoke_serial(
        store=SqliteStore(home.home.pki.store),
        raw_dir=home.home.raw,
        clock=lambda: datetime.now(UTC),
        serial=home.good_serial,
        reason=RevocationReason.superseded,
    )
    deadline = time.monotonic() + 5
    status = ocsp.OCSPCertStatus.GOOD
    response = second
    while time.monotonic() < deadline:
        response = ocsp_response_of(invoke(v2_event("POST", "/ocsp", der)))
        status = response.certificate_status
        if status is ocsp.OCSPCertStatus.REVOKED:
            break
        time.sleep(0.05)
    assert status is ocsp.OCSPCertStatus.REVOKED, "revocation not visible within 5 s"
    assert response.revocation_reason is x509.ReasonFlags.superseded
    assert_signed_by_delegated_signer(home, response)

    records = read_logs()
    assert records[-1]["cert_ids"][0]["cert_status"] == "revoked"
    assert all(r["cert_ids"][0]["cert_status"] == "good" for r in records[:-1])


def test_one_record_per_request(home: PkiHome, read_logs: ReadLogs) -> None:
    good, revoked = ocsp_request(home, home.good), ocsp_request(home, home.revoked)
    events = [
        v2_event("POST", "/ocsp", good, request_id="r1"),
        v2_event("POST", "/ocsp", revoked, request_id="r2"),
        v2_event("GET", "/ocsp/" + base64.b64encode(good).decode(), request_id="r3"),
    ]
    for event in events:
        invoke(event)
    records = read_logs()
    assert [r["request_id"] for r in records] == ["r1", "r2", "r3"]
    assert [r["cert_ids"][0]["cert_status"] for r in records] == ["good", "revoked", "good"]
    assert [r["http_method"] for r in records] == ["POST", "POST", "GET"]
    for record in records:
        assert record["service"] == "certsight-validation"
        assert record["message"] == "ocsp"
