"""The OCSP core against pyca/cryptography and asn1crypto as independent parsers."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp

from pki.keys import KeyType
from pki.layout import PkiLayout
from pki.store.base import StoreUnavailableError
from pki.store.sqlite import SqliteStore
from responders.ocsp.authority import load_authorities
from responders.ocsp.responder import OcspResponder, ResponderSettings
from responders.ocsp.response import ResponseStatus
from tests.conftest import PkiHome, make_home

SHA1 = hashes.SHA1()


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def request_der(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    algorithm: hashes.HashAlgorithm = SHA1,
    nonce: bytes | None = None,
) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm)
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def cert_id(
    cert: x509.Certificate, issuer: x509.Certificate, alg: str = "sha1"
) -> asn1_ocsp.CertId:
    """A CertID built with asn1crypto, to make requests cryptography cannot build."""
    import hashlib

    from pki.identity import public_key_bits

    return asn1_ocsp.CertId(
        {
            "hash_algorithm": {"algorithm": alg},
            "issuer_name_hash": hashlib.new(alg, issuer.subject.public_bytes()).digest(),
            "issuer_key_hash": hashlib.new(alg, public_key_bits(issuer)).digest(),
            "serial_number": cert.serial_number,
        }
    )


def multi_request(ids: list[asn1_ocsp.CertId], nonce: bytes | None = None) -> bytes:
    tbs: dict[str, object] = {"request_list": [{"req_cert": cid} for cid in ids]}
    if nonce is not None:
        tbs["request_extensions"] = [{"extn_id": "nonce", "extn_value": nonce}]
    return bytes(asn1_ocsp.OCSPRequest({"tbs_request": tbs}).dump())


def verify_signature(response: ocsp.OCSPResponse) -> None:
    signer = response.certificates[0] if response.certificates else None
    assert signer is not None
    key = signer.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))
    else:
        assert isinstance(key, rsa.RSAPublicKey)
        key.verify(
            response.signature, response.tbs_response_bytes, padding.PKCS1v15(), hashes.SHA256()
        )


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def responder(pki_home: PkiHome) -> OcspResponder:
    return OcspResponder(
        load_authorities(pki_home.home.pki), pki_home.store(), lambda: datetime.now(UTC)
    )


def test_good_and_revoked_answers_verify_with_the_delegated_signer(
    pki_home: PkiHome, responder: OcspResponder
) -> None:
    issuer = load(pki_home.home.pki.issuing_cert)
    good = responder.respond(request_der(load(pki_home.good), issuer))
    parsed = ocsp.load_der_ocsp_response(good.body)
    assert parsed.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert parsed.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert parsed.serial_number == load(pki_home.good).serial_number
    verify_signature(parsed)
    signer = parsed.certificates[0]
    assert signer.extensions.get_extension_for_class(x509.OCSPNoCheck)
    eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING in eku
    assert (
        parsed.responder_key_hash
        == x509.SubjectKeyIdentifier.from_public_key(signer.public_key()).digest
    )

    revoked = ocsp.load_der_ocsp_response(
        responder.respond(request_der(load(pki_home.revoked), issuer)).body
    )
    assert revoked.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_reason is x509.ReasonFlags.key_compromise
    assert revoked.revocation_time_utc is not None
    verify_signature(revoked)


def test_sha256_cert_ids_are_answered_and_echoed(
    pki_home: PkiHome, responder: OcspResponder
) -> None:
    issuer = load(pki_home.home.pki.issuing_cert)
    result = responder.respond(request_der(load(pki_home.good), issuer, hashes.SHA256()))
    parsed = ocsp.load_der_ocsp_response(result.body)
    assert parsed.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert isinstance(parsed.hash_algorithm, hashes.SHA256)
    assert result.cert_ids[0]["hash_algorithm"] == "sha256"
    assert (
        result.cert_ids[0]["issuer_key_sha1"]
        == pki_home.store().find_serial(pki_home.good_serial)[0].issuer_key_sha1
    )


def test_several_cert_ids_get_one_single_response_each(
    pki_home: PkiHome, responder: OcspResponder
) -> None:
    issuer = load(pki_home.home.pki.issuing_cert)
    unknown = load(pki_home.good)
    ids = [
        cert_id(load(pki_home.good), issuer),
        cert_id(load(pki_home.revoked), issuer, "sha256"),
        asn1_ocsp.CertId({**cert_id(unknown, issuer).native, "serial_number": 12345}),
    ]
    result = responder.respond(multi_request(ids))
    basic = asn1_ocsp.OCSPResponse.load(result.body).basic_ocsp_response
    singles = basic["tbs_response_data"]["responses"]
    assert [s["cert_status"].name for s in singles] == ["good", "revoked", "unknown"]
    # Each CertID is echoed octet for octet, which is how clients match answers.
    assert [s["cert_id"].dump() for s in singles] == [cid.dump() for cid in ids]
    assert [c["cert_status"] for c in result.cert_ids] == ["good", "revoked", "unknown"]
    assert result.cert_ids[2]["serial"] == "3039"


def test_nonce_is_echoed_and_never_cached(pki_home: PkiHome, responder: OcspResponder) -> None:
    issuer = load(pki_home.home.pki.issuing_cert)
    nonce = os.urandom(32)
    first = responder.respond(request_der(load(pki_home.good), issuer, nonce=nonce))
    parsed = ocsp.load_der_ocsp_response(first.body)
    assert parsed.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    assert first.nonce and not first.cache_hit and not first.cacheable
    second = responder.respond(request_der(load(pki_home.good), issuer, nonce=nonce))
    assert not second.cache_hit


@pytest.mark.parametrize("size", [0, 33, 64])
def test_nonce_outside_rfc8954_bounds_is_malformed(
    pki_home: PkiHome, responder: OcspResponder, size: int
) -> None:
    issuer = load(pki_home.home.pki.issuing_cert)
    data = multi_request([cert_id(load(pki_home.good), issuer)], nonce=b"\x01" * size)
    result = responder.respond(data)
    assert result.status is ResponseStatus.malformedRequest
    assert ocsp.load_der_ocsp_response(result.body).response_status is (
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    )


def test_cert_id_without_null_hash_parameters_is_echoed_exactly(
    pki_home: PkiHome, responder: OcspResponder
) -> None:
    issuer = load(pki_home.home.pki.issuing_cert)
    plain = cert_id(load(pki_home.good), issuer)
    absent = asn1_ocsp.CertId({**plain.native, "hash_algorithm": {"algorithm": "sha1"}})
    absent["hash_algorithm"]["parameters"] = None
    data = multi_request([absent])
    single = asn1_ocsp.OCSPResponse.load(responder.respond(data).body).basic_ocsp_response[
        "tbs_response_data"
    ]["responses"][0]
    assert single["cert_id"].dump() == absent.dump()
    assert single["cert_status"].name == "good"


def test_cache_serves_until_refresh_then_re_signs(pki_home: PkiHome) -> None:
    clock = Clock()
    responder = OcspResponder(
        load_authorities(pki_home.home.pki),
        pki_home.store(),
        clock,
        ResponderSettings(validity=timedelta(hours=1), refresh_margin=timedelta(minutes=10)),
    )
    data = request_der(load(pki_home.good), load(pki_home.home.pki.issuing_cert))
    first = responder.respond(data)
    assert not first.cache_hit and first.cacheable
    assert first.next_update == clock.now + timedelta(hours=1)
    clock.now += timedelta(minutes=49)
    hit = responder.respond(data)
    assert hit.cache_hit and hit.body == first.body and hit.etag == first.etag
    clock.now += timedelta(minutes=2)  # inside the refresh margin before nextUpdate
    refreshed = responder.respond(data)
    assert not refreshed.cache_hit and refreshed.body != first.body
    assert refreshed.this_update == clock.now.replace(microsecond=0)


def test_revocation_invalidates_the_cached_answer(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    store = home.store()
    responder = OcspResponder(load_authorities(home.home.pki), store, lambda: datetime.now(UTC))
    data = request_der(load(home.good), load(home.home.pki.issuing_cert))
    assert responder.respond(data).cert_ids[0]["cert_status"] == "good"
    assert responder.respond(data).cache_hit
    record = store.find_serial(home.good_serial)[0]
    from pki.reasons import RevocationReason

    store.revoke(
        record.issuer_key_sha1, record.serial, datetime.now(UTC), RevocationReason.superseded
    )
    responder.forget(record.issuer_key_sha1, record.serial)
    after = responder.respond(data)
    assert not after.cache_hit
    parsed = ocsp.load_der_ocsp_response(after.body)
    assert parsed.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert parsed.revocation_reason is x509.ReasonFlags.superseded


def test_unknown_issuer_is_unauthorized_and_logged(
    pki_home: PkiHome, responder: OcspResponder, tmp_path: Path
) -> None:
    other = make_home(tmp_path / "other")
    data = request_der(load(other.good), load(other.home.pki.issuing_cert))
    result = responder.respond(data)
    assert result.status is ResponseStatus.unauthorized
    assert ocsp.load_der_ocsp_response(result.body).response_status is (
        ocsp.OCSPResponseStatus.UNAUTHORIZED
    )
    assert result.cert_ids[0]["issuer_key_sha1"] is None
    assert result.cert_ids[0]["serial"] == other.good_serial


def test_issuing_ca_status_is_answered_by_the_roots_delegated_signer(
    pki_home: PkiHome, responder: OcspResponder
) -> None:
    layout = pki_home.home.pki
    data = request_der(load(layout.issuing_cert), load(layout.root_cert))
    parsed = ocsp.load_der_ocsp_response(responder.respond(data).body)
    assert parsed.certificate_status is ocsp.OCSPCertStatus.GOOD
    signer = load(layout.root_signer_cert)
    assert parsed.certificates == [signer]  # delegated: the signer's certificate is included
    signer_key = signer.public_key()
    assert isinstance(signer_key, ec.EllipticCurvePublicKey)
    signer_key.verify(parsed.signature, parsed.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))
    signer.verify_directly_issued_by(load(layout.root_cert))


def test_the_responder_reads_no_ca_key(pki_home: PkiHome, tmp_path: Path) -> None:
    """Without either CA key the responder answers for both CAs, as before."""
    import shutil

    copy = tmp_path / "pki"
    shutil.copytree(pki_home.home.pki.root, copy)
    layout = PkiLayout(copy)
    layout.issuing_key.unlink()
    layout.root_key.unlink()
    authorities = load_authorities(layout)
    assert [a.name for a in authorities.authorities] == ["issuing-ca", "root-ca"]
    responder = OcspResponder(authorities, pki_home.store(), lambda: datetime.now(UTC))
    for cert, issuer in (
        (pki_home.good, layout.issuing_cert),
        (layout.issuing_cert, layout.root_cert),
    ):
        result = responder.respond(request_der(load(cert), load(issuer)))
        assert ocsp.load_der_ocsp_response(result.body).certificate_status is (
            ocsp.OCSPCertStatus.GOOD
        )


class BrokenStore(SqliteStore):
    def get(self, issuer_key_sha1: str, serial: str) -> None:
        raise StoreUnavailableError("table is gone")


def test_store_outage_answers_try_later(pki_home: PkiHome, tmp_path: Path) -> None:
    responder = OcspResponder(
        load_authorities(pki_home.home.pki),
        BrokenStore(tmp_path / "x.sqlite"),
        lambda: datetime.now(UTC),
    )
    data = request_der(load(pki_home.good), load(pki_home.home.pki.issuing_cert))
    result = responder.respond(data)
    assert result.status is ResponseStatus.tryLater
    assert ocsp.load_der_ocsp_response(result.body).response_status is (
        ocsp.OCSPResponseStatus.TRY_LATER
    )


def test_rsa_hierarchy_signs_with_rsa(tmp_path: Path) -> None:
    home = make_home(tmp_path, key_type=KeyType.rsa_2048)
    responder = OcspResponder(
        load_authorities(home.home.pki), home.store(), lambda: datetime.now(UTC)
    )
    parsed = ocsp.load_der_ocsp_response(
        responder.respond(request_der(load(home.good), load(home.home.pki.issuing_cert))).body
    )
    assert parsed.signature_algorithm_oid == x509.oid.SignatureAlgorithmOID.RSA_WITH_SHA256
    verify_signature(parsed)


@pytest.mark.parametrize(
    "data", [b"", b"\x30", b"\x30\x03\x02\x01\x01", b"GET / HTTP/1.1", b"\x30\x80" + b"\x00" * 10]
)
def test_garbage_is_malformed(responder: OcspResponder, data: bytes) -> None:
    result = responder.respond(data)
    assert result.status is ResponseStatus.malformedRequest
    assert result.body == b"\x30\x03\x0a\x01\x01"
