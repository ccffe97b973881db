"""The transport-neutral HTTP layer, driven directly: routes, HEAD, logging fields."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes

from responders.web.exchange import HttpRequest
from responders.web.runtime import Runtime, RuntimeConfig, build_runtime
from tests.conftest import PkiHome
from tests.responders.test_ocsp_core import load, request_der


def runtime_for(home: PkiHome, **overrides: object) -> Runtime:
    config = RuntimeConfig(
        pki_dir=str(home.home.pki.root),
        raw_dir=None,
        store_uri=str(home.home.pki.store),
        **overrides,  # type: ignore[arg-type]
    )
    return build_runtime(config, adapter="test")


def get(
    runtime: Runtime, path: str, method: str = "GET", **headers: str
) -> tuple[int, dict[bytes, bytes], bytes, dict[str, object] | None]:
    exchange = runtime.service.handle(HttpRequest(method, path, headers, b"", "192.0.2.9"))
    return (
        exchange.reply.status,
        dict(exchange.reply.headers),
        exchange.reply.body,
        exchange.record,
    )


def test_crl_records_name_the_issuer_and_304(pki_home: PkiHome) -> None:
    runtime = runtime_for(pki_home)
    status, headers, body, record = get(runtime, "/crl/issuing-ca.crl")
    assert status == 200 and body
    assert record is not None
    issuer_sha1 = pki_home.store().find_serial(pki_home.good_serial)[0].issuer_key_sha1
    assert record["issuer_key_sha1"] == issuer_sha1
    assert record["object"] == "crl" and record["not_modified"] is False
    assert record["crl_number"] >= 1  # type: ignore[operator]
    status, _, body, record = get(
        runtime, "/crl/issuing-ca.crl", **{"if-none-match": headers[b"etag"].decode()}
    )
    assert status == 304 and body == b"" and record and record["not_modified"] is True


def test_head_sends_no_body_and_logs_none(pki_home: PkiHome) -> None:
    runtime = runtime_for(pki_home)
    status, headers, body, record = get(runtime, "/crl/issuing-ca.crl", "HEAD")
    assert status == 200 and body == b"" and headers[b"content-type"] == b"application/pkix-crl"
    assert record is not None and record["response_bytes"] == 0
    assert record["http_method"] == "HEAD"


def test_ca_certificates_and_their_refusals(pki_home: PkiHome) -> None:
    runtime = runtime_for(pki_home)
    status, headers, body, record = get(runtime, "/ca/issuing-ca.crt")
    assert status == 200 and headers[b"content-type"] == b"application/pkix-cert"
    assert body == load(pki_home.home.pki.issuing_cert).public_bytes(
        __import__(
            "cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]
        ).Encoding.DER
    )
    assert record is not None and record["object"] == "ca-certificate"
    status, headers, _, _ = get(runtime, "/ca/issuing-ca.crt", "DELETE")
    assert status == 405 and headers[b"allow"] == b"GET, HEAD"
    assert get(runtime, "/ca/other.crt")[0] == 404


def test_unknown_paths_are_logged_and_healthz_is_not(pki_home: PkiHome) -> None:
    runtime = runtime_for(pki_home)
    status, _, _, record = get(runtime, "/wp-login.php")
    assert status == 404 and record is not None and record["path"] == "/wp-login.php"
    status, _, body, record = get(runtime, "/healthz")
    assert status == 200 and body == b"ok\n" and record is None


def test_oversized_post_logs_the_declared_size(pki_home: PkiHome) -> None:
    runtime = runtime_for(pki_home)
    request = HttpRequest(
        "POST", "/ocsp", {"content-length": "90000"}, b"", "192.0.2.9", body_too_large=True
    )
    exchange = runtime.service.handle(request)
    assert exchange.reply.status == 413
    assert exchange.record is not None and exchange.record["request_bytes"] == 90000


def test_request_ids_are_unique_and_records_carry_cloudfront_ids(pki_home: PkiHome) -> None:
    runtime = runtime_for(pki_home)
    data = request_der(load(pki_home.good), load(pki_home.home.pki.issuing_cert), hashes.SHA256())
    ids = set()
    for _ in range(50):
        exchange = runtime.service.handle(
            HttpRequest("POST", "/ocsp", {"x-amz-cf-id": "abc=="}, data, "192.0.2.9")
        )
        assert exchange.record is not None
        assert exchange.record["cf_request_id"] == "abc=="
        ids.add(exchange.record["request_id"])
    assert len(ids) == 50
