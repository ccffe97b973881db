"""Property-based: whatever bytes a client sends, the core answers with an OCSP status."""

from __future__ import annotations

from datetime import UTC, datetime

from asn1crypto import ocsp as asn1_ocsp
from cryptography.x509 import ocsp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pki.ocsp_getpath import GetDecodeError, decode_get_request
from responders.ocsp.authority import load_authorities
from responders.ocsp.responder import OcspResponder
from responders.ocsp.response import ResponseStatus
from responders.web.exchange import HttpRequest, ValidationService
from tests.conftest import PkiHome
from tests.responders.test_ocsp_core import cert_id, load, multi_request

FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _responder(home: PkiHome) -> OcspResponder:
    return OcspResponder(load_authorities(home.home.pki), home.store(), lambda: datetime.now(UTC))


def _valid(home: PkiHome) -> bytes:
    return multi_request([cert_id(load(home.good), load(home.home.pki.issuing_cert))])


@FUZZ
@given(data=st.binary(max_size=600))
def test_random_bytes_never_raise(pki_home: PkiHome, data: bytes) -> None:
    result = _responder(pki_home).respond(data)
    status = ocsp.load_der_ocsp_response(result.body).response_status
    assert status.value == result.status.value


@FUZZ
@given(
    position=st.integers(min_value=0),
    value=st.integers(min_value=0, max_value=255),
    cut=st.integers(min_value=0),
)
def test_mutated_and_truncated_requests_never_raise(
    pki_home: PkiHome, position: int, value: int, cut: int
) -> None:
    valid = _valid(pki_home)
    mutated = bytearray(valid)
    mutated[position % len(valid)] = value
    for data in (bytes(mutated), valid[: cut % len(valid)]):
        result = _responder(pki_home).respond(data)
        assert result.status in set(ResponseStatus)
        ocsp.load_der_ocsp_response(result.body)


@FUZZ
@given(
    serials=st.lists(st.integers(min_value=-(2**159), max_value=2**160), min_size=1, max_size=5),
    nonce=st.none() | st.binary(min_size=0, max_size=40),
)
def test_any_serials_and_nonces_get_a_parseable_answer(
    pki_home: PkiHome, serials: list[int], nonce: bytes | None
) -> None:
    base = cert_id(load(pki_home.good), load(pki_home.home.pki.issuing_cert))
    ids = [asn1_ocsp.CertId({**base.native, "serial_number": s}) for s in serials]
    result = _responder(pki_home).respond(multi_request(ids, nonce=nonce))
    if nonce is not None and not 1 <= len(nonce) <= 32:
        assert result.status is ResponseStatus.malformedRequest
    else:
        assert result.status is ResponseStatus.successful
        singles = asn1_ocsp.OCSPResponse.load(result.body).basic_ocsp_response["tbs_response_data"][
            "responses"
        ]
        assert [s["cert_id"]["serial_number"].native for s in singles] == serials


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "get"]),
    path=st.text(max_size=300),
    body=st.binary(max_size=300),
)
def test_http_layer_never_answers_5xx(
    pki_home: PkiHome, method: str, path: str, body: bytes
) -> None:
    service = ValidationService(
        ocsp=_responder(pki_home),
        crl=None,
        ca_certificates={},
        clock=lambda: datetime.now(UTC),
        adapter="test",
    )
    exchange = service.handle(HttpRequest(method, "/" + path, {}, body, "192.0.2.1"))
    assert exchange.reply.status < 500


@FUZZ
@given(text=st.text(max_size=400))
def test_get_decoding_fails_only_with_its_own_error(text: str) -> None:
    try:
        decode_get_request(text)
    except GetDecodeError:
        pass
