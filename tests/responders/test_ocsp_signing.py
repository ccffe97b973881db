"""The signing source alone: verifiable responses, nonces echoed, every CertID answered."""

from __future__ import annotations

import hashlib

from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.x509 import ocsp

from pki.reasons import RevocationReason
from responders.ocsp.authority import AuthorityIndex
from responders.ocsp.response import SingleAnswer, SingleStatus
from responders.ocsp.signing import SigningSource
from responders.ocsp.source import AdmittedRequest, AnsweredRequest
from tests.conftest import PkiHome
from tests.responders.ocsp_doubles import (
    HOUR,
    NOW,
    admitted,
    serial_request,
)
from tests.responders.test_ocsp_core import (
    load,
    request_der,
    verify_signature,
)


# -- signing ---------------------------------------------------------------------------
def answered(request: AdmittedRequest, *statuses: SingleStatus) -> AnsweredRequest:
    answers = []
    for cid, status in zip(request.request.cert_ids, statuses, strict=True):
        if status is SingleStatus.revoked:
            answers.append(SingleAnswer(cid, status, NOW - HOUR, RevocationReason.superseded))
        else:
            answers.append(SingleAnswer(cid, status))
    return AnsweredRequest(request, tuple(answers), NOW)  # read as it is signed


def test_signing_builds_a_verifiable_response_with_an_etag(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    data = request_der(load(pki_home.revoked), load(pki_home.home.pki.issuing_cert))
    request = admitted(authorities, data)
    result = SigningSource(HOUR).response(answered(request, SingleStatus.revoked), NOW)
    parsed = ocsp.load_der_ocsp_response(result.body)
    verify_signature(parsed)
    assert parsed.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert parsed.revocation_reason is x509.ReasonFlags.superseded
    assert parsed.this_update_utc == NOW.replace(microsecond=0) == result.this_update
    assert parsed.next_update_utc == NOW.replace(microsecond=0) + HOUR == result.next_update
    assert result.etag == '"' + hashlib.sha256(result.body).hexdigest()[:32] + '"'
    assert result.cacheable and not result.nonce and not result.cache_hit
    assert result.issuer_key_sha1 == request.issuer_key_sha1
    assert result.cert_ids[0]["cert_status"] == "revoked"
    assert result.cert_ids[0]["serial"] == pki_home.revoked_serial


def test_signing_echoes_a_nonce_and_gives_no_etag(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    nonce = bytes(range(16))
    data = request_der(load(pki_home.good), load(pki_home.home.pki.issuing_cert), nonce=nonce)
    request = admitted(authorities, data)
    signer = SigningSource(HOUR)
    first = signer.response(answered(request, SingleStatus.good), NOW)
    parsed = ocsp.load_der_ocsp_response(first.body)
    assert parsed.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    assert first.nonce and first.etag is None and not first.cacheable
    assert [c["cert_status"] for c in first.cert_ids] == ["good"]


def test_signing_answers_every_cert_id_in_order(
    pki_home: PkiHome, authorities: AuthorityIndex
) -> None:
    request = admitted(authorities, serial_request(pki_home, 7, 8, 9))
    statuses = (SingleStatus.good, SingleStatus.unknown, SingleStatus.revoked)
    result = SigningSource(HOUR).response(answered(request, *statuses), NOW)
    singles = asn1_ocsp.OCSPResponse.load(result.body).basic_ocsp_response["tbs_response_data"][
        "responses"
    ]
    assert [s["cert_status"].name for s in singles] == ["good", "unknown", "revoked"]
    assert tuple(s["cert_id"].dump() for s in singles) == request.cache_key
