"""The one OCSP request decoder: what the responder answers is what the ingest records.

Before the module split the responders and the ingest had a decoder each; they disagreed
on how many percent-encoding layers a GET path may carry (3 against 2) and on length
caps. These tests hold the two uses of the single decoder to the same reading.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from pki.ocsp_getpath import MAX_GET_PATH, GetDecodeError, decode_get_request, unquote_once
from pki.ocsp_request import (
    MalformedRequestError,
    check_answerable,
    parse_request,
    request_fields,
)
from pki.serials import serial_hex
from tests.conftest import PkiHome
from tests.responders.test_ocsp_core import load, request_der


def encoded(der: bytes, layers: int) -> str:
    text = base64.b64encode(der).decode()
    for _ in range(layers):
        text = quote(text, safe="")
    return text


@pytest.mark.parametrize("layers", [0, 1, 2, 3])
def test_every_plausible_escaping_decodes_to_the_same_request(
    pki_home: PkiHome, layers: int
) -> None:
    der = request_der(load(pki_home.good), load(pki_home.home.pki.issuing_cert))
    assert decode_get_request(encoded(der, layers)) == der
    # The ingest sees the path as a CDN logged it: one more layer, undone by the log reader.
    assert decode_get_request(unquote_once(quote(encoded(der, layers), safe=""))) == der


def test_deeper_escaping_and_long_paths_are_refused_alike(pki_home: PkiHome) -> None:
    der = request_der(load(pki_home.good), load(pki_home.home.pki.issuing_cert))
    with pytest.raises(GetDecodeError):
        decode_get_request(encoded(der, 4))
    with pytest.raises(GetDecodeError, match="longer than"):
        decode_get_request("M" * (MAX_GET_PATH + 1))
    assert issubclass(GetDecodeError, MalformedRequestError)  # one error family for callers


def test_fields_are_what_the_responder_reads(pki_home: PkiHome) -> None:
    cert = load(pki_home.good)
    der = request_der(cert, load(pki_home.home.pki.issuing_cert))
    parsed = parse_request(der)
    fields = request_fields(der)
    assert [c.serial for c in fields.cert_ids] == [serial_hex(cert.serial_number)]
    assert fields.cert_ids[0].issuer_key_hash == parsed.cert_ids[0].issuer_key_hash.hex()
    assert fields.cert_ids[0].hash_algorithm == "sha1"
    assert fields.nonce is False


def test_decoding_records_what_answering_refuses(pki_home: PkiHome) -> None:
    """A 40-octet nonce breaks RFC 8954: the responder answers malformedRequest, the LAKE
    still records the request (with its nonce) instead of losing it."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        load(pki_home.good), load(pki_home.home.pki.issuing_cert), hashes.SHA1()
    )
    der = builder.add_extension(x509.OCSPNonce(b"n" * 40), critical=False).build()
    data = der.public_bytes(serialization.Encoding.DER)
    assert request_fields(data).nonce is True
    with pytest.raises(MalformedRequestError, match="nonce of 40 octets"):
        check_answerable(parse_request(data))
