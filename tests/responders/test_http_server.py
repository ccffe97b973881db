"""`certsight serve` as a real process, driven by real clients: OpenSSL, raw sockets, urllib."""

from __future__ import annotations

import base64
import gzip
import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from pki.certificates import issue_certificate
from pki.keys import KeyType, generate_key, load_private_key
from tests.conftest import PkiHome, RunningServer, make_home, start_server, utc_now
from tests.responders.test_ocsp_core import cert_id, load, multi_request, request_der


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, {k.lower(): v for k, v in reply.headers.items()}, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def openssl_ocsp(
    server: RunningServer, *certs: Path, issuer: Path | None = None, extra: tuple[str, ...] = ()
) -> str:
    pki = server.home.pki
    args = ["openssl", "ocsp", "-issuer", str(issuer or pki / "issuing-ca.pem")]
    for cert in certs:
        args += ["-cert", str(cert)]
    args += [
        "-url",
        f"{server.url}/ocsp",
        "-CAfile",
        str(pki / "root-ca.pem"),
        "-verify_other",
        str(pki / "issuing-ca.pem"),
        *extra,
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    return done.stdout + done.stderr


def test_openssl_good_revoked_and_verified(server: RunningServer) -> None:
    out = openssl_ocsp(server, server.home.good)
    assert "Response verify OK" in out
    assert f"{server.home.good}: good" in out
    out = openssl_ocsp(server, server.home.revoked)
    assert "Response verify OK" in out
    assert f"{server.home.revoked}: revoked" in out
    assert "Reason: keyCompromise" in out


def test_openssl_unknown_certificate(server: RunningServer, tmp_path: Path) -> None:
    layout = server.home.home.pki
    stranger = issue_certificate(
        common_name="never-recorded.example.test",
        sans=[],
        days=5,
        issuing_cert=load(layout.issuing_cert),
        issuing_key=load_private_key(layout.issuing_key),
        config=layout.read_config(),
        now=utc_now(),
        public_key=generate_key(KeyType.ec_p256).public_key(),
    )
    path = tmp_path / "stranger.pem"
    path.write_bytes(stranger.certificate.public_bytes(serialization.Encoding.PEM))
    out = openssl_ocsp(server, path)
    assert "Response verify OK" in out
    assert f"{path}: unknown" in out


def test_openssl_several_certificates_in_one_request(server: RunningServer) -> None:
    out = openssl_ocsp(server, server.home.good, server.home.revoked, extra=("-no_nonce",))
    assert "Response verify OK" in out
    assert f"{server.home.good}: good" in out and f"{server.home.revoked}: revoked" in out


def test_openssl_checks_the_issuing_ca_against_the_root(server: RunningServer) -> None:
    pki = server.home.pki
    out = openssl_ocsp(server, pki / "issuing-ca.pem", issuer=pki / "root-ca.pem")
    assert "Response verify OK" in out and "issuing-ca.pem: good" in out


def _get_request_with(chars: str, home: PkiHome) -> bytes:
    """An OCSP request whose base64 contains every character in ``chars``."""
    issuer = load(home.home.pki.issuing_cert)
    base = cert_id(load(home.good), issuer)
    for serial in range(1, 100_000):
        data = multi_request([asn1_ocsp.CertId({**base.native, "serial_number": serial * 7919})])
        text = base64.b64encode(data).decode()
        if all(c in text for c in chars):
            return data
    raise AssertionError("no request found")


def test_get_in_the_encodings_real_clients_send(server: RunningServer) -> None:
    data = _get_request_with("/+=", server.home)
    text = base64.b64encode(data).decode()
    status, _, body = http(
        "POST", f"{server.url}/ocsp", data, {"content-type": "application/ocsp-request"}
    )
    assert status == 200
    expected = ocsp.load_der_ocsp_response(body)
    variants = {
        "windows raw slashes": text,
        "java percent-encoded": text.replace("/", "%2F").replace("+", "%2B").replace("=", "%3D"),
        "lowercase escapes": text.replace("/", "%2f").replace("+", "%2b").replace("=", "%3d"),
        "url-safe, unpadded": text.replace("+", "-").replace("/", "_").rstrip("="),
        "double slash after /ocsp": "/" + text,
        "cdn re-encoded": text.replace("/", "%252F").replace("+", "%252B").replace("=", "%253D"),
    }
    for name, encoded in variants.items():
        status, headers, body = http("GET", f"{server.url}/ocsp/{encoded}")
        assert status == 200, name
        assert headers["content-type"] == "application/ocsp-response", name
        parsed = ocsp.load_der_ocsp_response(body)
        assert parsed.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL, name
        assert parsed.serial_number == expected.serial_number, name
        assert parsed.certificate_status is ocsp.OCSPCertStatus.UNKNOWN, name


def test_cache_headers_and_304(server: RunningServer) -> None:
    data = request_der(load(server.home.good), load(server.home.home.pki.issuing_cert))
    encoded = base64.b64encode(data).decode()
    status, headers, body = http("GET", f"{server.url}/ocsp/{encoded}")
    assert status == 200
    # Fresh for the default cap (300 s), then servable by a CDN whose origin fails until
    # nextUpdate, never after (RFC 5861 counts stale-if-error from the end of max-age);
    # no must-revalidate, which would forbid exactly that (RFC 9111 5.2.2.2).
    # tests/responders/test_cdn_cache_headers.py checks the values at held moments.
    control = headers["cache-control"]
    match = re.fullmatch(r"max-age=(\d+), public, no-transform, stale-if-error=(\d+)", control)
    assert match, control
    max_age, stale = int(match[1]), int(match[2])
    parsed = ocsp.load_der_ocsp_response(body)
    assert parsed.next_update_utc is not None
    remaining = (parsed.next_update_utc - utc_now()).total_seconds()
    assert max_age == 300
    assert abs(max_age + stale - remaining) <= 2  # real time passes between the two clocks
    expires = parsedate_to_datetime(headers["expires"])
    assert abs((expires - utc_now()).total_seconds() - max_age) <= 2  # agrees with max-age
    assert parsedate_to_datetime(headers["last-modified"]) == parsed.this_update_utc
    assert headers["etag"].startswith('"')
    status, again, empty = http(
        "GET", f"{server.url}/ocsp/{encoded}", headers={"if-none-match": headers["etag"]}
    )
    assert status == 304 and empty == b"" and again["etag"] == headers["etag"]
    status, _, _ = http(
        "GET", f"{server.url}/ocsp/{encoded}", headers={"if-none-match": '"something-else"'}
    )
    assert status == 200


def test_nonce_responses_are_not_cacheable(server: RunningServer) -> None:
    data = request_der(
        load(server.home.good), load(server.home.home.pki.issuing_cert), nonce=b"n" * 16
    )
    status, headers, body = http(
        "POST", f"{server.url}/ocsp", data, {"content-type": "application/ocsp-request"}
    )
    assert status == 200 and headers["cache-control"] == "no-store"
    parsed = ocsp.load_der_ocsp_response(body)
    assert parsed.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"n" * 16


def test_body_cap_and_bad_requests_never_5xx(server: RunningServer) -> None:
    status, _, _ = http(
        "POST", f"{server.url}/ocsp", b"\x30" * 40_000, {"content-type": "application/ocsp-request"}
    )
    assert status == 413
    for method, path, body in [
        ("POST", "/ocsp", b"not der"),
        ("GET", "/ocsp/!!!notbase64", None),
        ("GET", "/ocsp/", None),
        ("GET", "/ocsp/%FF%FE", None),
        ("GET", "/ocsp/" + "A" * 9000, None),
    ]:
        status, _, reply = http(method, f"{server.url}{path}", body)
        assert status == 200, path
        assert ocsp.load_der_ocsp_response(reply).response_status is (
            ocsp.OCSPResponseStatus.MALFORMED_REQUEST
        ), path
    assert http("PUT", f"{server.url}/ocsp", b"x")[0] == 405
    assert http("GET", f"{server.url}/nowhere")[0] == 404
    assert http("GET", f"{server.url}/crl/none.crl")[0] == 404


def test_silent_clients_do_not_stall_the_server(server: RunningServer) -> None:
    """OpenSSL's own responder spins forever on a connection closed without a word."""
    idle = []
    for _ in range(20):
        quiet = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        quiet.close()
        idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
    data = request_der(load(server.home.good), load(server.home.home.pki.issuing_cert))
    status, _, body = http(
        "POST", f"{server.url}/ocsp", data, {"content-type": "application/ocsp-request"}
    )
    assert status == 200
    assert ocsp.load_der_ocsp_response(body).certificate_status is ocsp.OCSPCertStatus.GOOD
    for sock in idle:
        sock.close()


def test_crl_verifies_with_openssl_and_parses(server: RunningServer, tmp_path: Path) -> None:
    status, headers, body = http("GET", f"{server.url}/crl/issuing-ca.crl")
    assert status == 200 and headers["content-type"] == "application/pkix-crl"
    path = tmp_path / "issuing.crl"
    path.write_bytes(body)
    pki = server.home.pki
    done = subprocess.run(
        [
            "openssl",
            "crl",
            "-inform",
            "DER",
            "-in",
            str(path),
            "-CAfile",
            str(pki / "ca-chain.pem"),
            "-noout",
            "-verify",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "verify OK" in done.stdout + done.stderr
    crl = x509.load_der_x509_crl(body)
    issuer = load(pki / "issuing-ca.pem")
    issuer_key = issuer.public_key()
    assert isinstance(issuer_key, ec.EllipticCurvePublicKey)
    assert crl.is_signature_valid(issuer_key)
    entry = crl.get_revoked_certificate_by_serial_number(int(server.home.revoked_serial, 16))
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is (
        x509.ReasonFlags.key_compromise
    )
    assert crl.get_revoked_certificate_by_serial_number(int(server.home.good_serial, 16)) is None
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number >= 1
    assert crl.next_update_utc is not None and crl.next_update_utc > crl.last_update_utc
    assert (
        http("GET", f"{server.url}/crl/issuing-ca.crl", headers={"if-none-match": headers["etag"]})[
            0
        ]
        == 304
    )
    status, _, root_crl = http("GET", f"{server.url}/crl/root-ca.crl")
    assert status == 200
    root_key = load(pki / "root-ca.pem").public_key()
    assert isinstance(root_key, ec.EllipticCurvePublicKey)
    assert x509.load_der_x509_crl(root_crl).is_signature_valid(root_key)


def _read_log(raw: Path, kind: str) -> list[dict[str, Any]]:
    records = []
    for path in sorted((raw / kind).glob("dt=*/*.jsonl.gz")):
        with gzip.open(path, "rt") as handle:
            records += [json.loads(line) for line in handle if line.strip()]
    return records


def test_revocation_while_serving_reaches_ocsp_and_crl(server: RunningServer) -> None:
    cert, serial = server.home.issue("soon-revoked.example.test")
    issuer = load(server.home.home.pki.issuing_cert)
    encoded = base64.b64encode(request_der(load(cert), issuer)).decode()
    _, _, body = http("GET", f"{server.url}/ocsp/{encoded}")
    assert ocsp.load_der_ocsp_response(body).certificate_status is ocsp.OCSPCertStatus.GOOD
    subprocess.run(
        [
            sys.executable,
            "-m",
            "certsight.cli",
            "revoke",
            serial.upper(),
            "--reason",
            "cessationOfOperation",
            "--home",
            str(server.home.home.root),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    status_seen = None
    deadline = time.monotonic() + 15  # designed for 1 s (the poll interval); generous on CI
    while time.monotonic() < deadline:
        _, _, body = http("GET", f"{server.url}/ocsp/{encoded}")
        status_seen = ocsp.load_der_ocsp_response(body)
        if status_seen.certificate_status is ocsp.OCSPCertStatus.REVOKED:
            break
        time.sleep(0.2)
    assert status_seen is not None
    assert status_seen.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert status_seen.revocation_reason is x509.ReasonFlags.cessation_of_operation
    # The CRL updater (a child of `certsight serve`, which holds the CA key the server
    # does not) re-signs on the revocation; the server picks the stored CRL up.
    listed = None
    deadline = time.monotonic() + 15  # designed for about 2 s; generous on a loaded CI
    while time.monotonic() < deadline and listed is None:
        _, _, crl_body = http("GET", f"{server.url}/crl/issuing-ca.crl")
        crl = x509.load_der_x509_crl(crl_body)
        listed = crl.get_revoked_certificate_by_serial_number(int(serial, 16))
        time.sleep(0.2)
    assert listed is not None


def test_access_log_fields_and_flush_on_sigterm(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    running = start_server(home, "--log-batch-seconds", "3600", "--trust-viewer-address")
    issuer = load(home.home.pki.issuing_cert)
    data = request_der(load(home.good), issuer)
    encoded = base64.b64encode(data).decode()
    headers = {
        "user-agent": "Microsoft-CryptoAPI/10.0",
        "x-amz-cf-id": "cf-id-123==",
        "cloudfront-viewer-address": "198.51.100.23:50432",
    }
    for _ in range(5):
        http("GET", f"{running.url}/ocsp/{encoded}", headers=headers)
    http("POST", f"{running.url}/ocsp", b"junk", {"content-type": "application/ocsp-request"})
    http("GET", f"{running.url}/crl/issuing-ca.crl", headers={"user-agent": "curl/8"})
    assert _read_log(home.home.raw, "ocsp") == []  # still batched in memory
    assert running.stop() == 0
    records = _read_log(home.home.raw, "ocsp")
    assert len(records) == 6
    first = records[0]
    assert first["log"] == "ocsp" and first["http_method"] == "GET" and first["http_status"] == 200
    assert first["client_ip"] == "198.51.100.23"
    assert first["cf_request_id"] == "cf-id-123=="
    assert first["user_agent"] == "Microsoft-CryptoAPI/10.0"
    assert first["response_status"] == "successful"
    assert first["event_time"].endswith("Z") and len(first["event_time"]) == 27
    assert first["cert_ids"] == [
        {
            "hash_algorithm": "sha1",
            "issuer_name_hash": cert_id(load(home.good), issuer)["issuer_name_hash"].native.hex(),
            "issuer_key_hash": cert_id(load(home.good), issuer)["issuer_key_hash"].native.hex(),
            "serial": home.good_serial,
            "issuer_key_sha1": cert_id(load(home.good), issuer)["issuer_key_hash"].native.hex(),
            "cert_status": "good",
        }
    ]
    assert [r["cache_hit"] for r in records[:5]] == [False, True, True, True, True]
    assert all(r["latency_ms"] >= 0 and r["response_bytes"] > 0 for r in records[:5])
    assert records[5]["response_status"] == "malformedRequest" and records[5]["cert_ids"] == []
    crl_records = _read_log(home.home.raw, "crl")
    assert len(crl_records) == 1 and crl_records[0]["crl_number"] >= 1
    assert crl_records[0]["path"] == "/crl/issuing-ca.crl"
    # Files appear complete: no temporary names are left behind.
    assert not list(home.home.raw.rglob(".*.tmp"))


@pytest.mark.parametrize("role,ocsp_ok,crl_ok", [("ocsp", True, False), ("crl", False, True)])
def test_serve_single_role(tmp_path: Path, role: str, ocsp_ok: bool, crl_ok: bool) -> None:
    home = make_home(tmp_path)
    running = start_server(home, role)
    try:
        data = request_der(load(home.good), load(home.home.pki.issuing_cert))
        status, _, _ = http("POST", f"{running.url}/ocsp", data)
        assert (status == 200) is ocsp_ok
        assert (http("GET", f"{running.url}/crl/issuing-ca.crl")[0] == 200) is crl_ok
    finally:
        running.stop()


def test_a_viewer_address_sent_directly_is_not_logged(tmp_path: Path) -> None:
    """Without --trust-viewer-address, CloudFront-Viewer-Address is anyone's to write: a
    scanner must not appear in the LAKE as the internal host it names."""
    home = make_home(tmp_path)
    running = start_server(home, "--log-batch-seconds", "3600")
    issuer = load(home.home.pki.issuing_cert)
    encoded = base64.b64encode(request_der(load(home.good), issuer)).decode()
    http(
        "GET",
        f"{running.url}/ocsp/{encoded}",
        headers={"cloudfront-viewer-address": "10.20.30.40:443"},
    )
    assert running.stop() == 0
    [record] = _read_log(home.home.raw, "ocsp")
    assert record["client_ip"] == "127.0.0.1"
