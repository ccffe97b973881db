"""Decode OCSPRequests (RFC 6960 4.1.1): the one decoder of certsight.

The responders answer what it returns, the ingest records it, so both agree on what a
client asked. Decoding is separate from the responders' policy (``check_answerable``:
CertIDs they can echo, nonces RFC 8954 allows), which the ingest does not apply: it
records what clients sent, answerable or not.

Two parsers, both strict about the DER they accept: pyca/cryptography first because it
is about forty times faster, asn1crypto for what cryptography refuses (several CertIDs, hash
algorithm parameters other than NULL, nonces that are not an OCTET STRING).
Whatever path is taken, each CertID keeps its exact DER so the response can
echo it, which is how OpenSSL and others match answers to questions.
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.x509 import ocsp as x509_ocsp

from pki import der
from pki.identity import HASH_NAMES_TO_OID, HASH_OIDS
from pki.serials import serial_hex

NONCE_OID = "1.3.6.1.5.5.7.48.1.2"
MAX_NONCE = 32  # RFC 8954 2.1


# AlgorithmIdentifier encodings per hash: with NULL parameters, and without (RFC 5754).
_ALGORITHMS = {
    name: (der.sequence(der.oid(oid), b"\x05\x00"), der.sequence(der.oid(oid)))
    for name, oid in HASH_NAMES_TO_OID.items()
}


class MalformedRequestError(ValueError):
    """The bytes are not an OCSPRequest certsight can answer; the message says where."""


@dataclass(slots=True)  # built per request: plain slots construct faster than frozen
class CertId:
    hash_algorithm: str  # sha1, sha256, ... or the dotted OID when unknown
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial_number: int
    der: bytes  # as the client encoded it


@dataclass(slots=True)  # built per request: plain slots construct faster than frozen
class OcspRequest:
    cert_ids: tuple[CertId, ...]
    nonce: bytes | None  # the nonce extension's extnValue contents, echoed verbatim


def _cert_id_der(
    alg_name: str, name_hash: bytes, key_hash: bytes, serial: int, *, null_params: bool = True
) -> bytes:
    algorithm = _ALGORITHMS[alg_name][0 if null_params else 1]
    magnitude = serial if serial >= 0 else ~serial  # minimal two's complement length
    serial_octets = serial.to_bytes((magnitude.bit_length() + 8) // 8, "big", signed=True)
    return der.sequence(
        algorithm,
        der.octet_string(name_hash),
        der.octet_string(key_hash),
        der.tlv(0x02, serial_octets),
    )


def _nonce_value(extn_value: bytes) -> bytes:
    """The nonce octets inside extnValue; RFC 8954 says OCTET STRING, old clients sent raw bytes."""
    try:
        tag, start, end = der.read_tlv(extn_value)
        if tag == 0x04 and end == len(extn_value):
            return extn_value[start:end]
    except ValueError:
        pass
    return extn_value


def _check_nonce(extn_value: bytes) -> bytes:
    value = _nonce_value(extn_value)
    if not 1 <= len(value) <= MAX_NONCE:
        raise MalformedRequestError(
            f"nonce of {len(value)} octets; RFC 8954 allows 1 to {MAX_NONCE}"
        )
    return extn_value


def _fast_parse(data: bytes) -> OcspRequest | None:
    """One CertID with NULL hash parameters: the common case, parsed by cryptography."""
    try:
        request = x509_ocsp.load_der_ocsp_request(data)
        alg_name = request.hash_algorithm.name
        cert_id = _cert_id_der(
            alg_name, request.issuer_name_hash, request.issuer_key_hash, request.serial_number
        )
        nonce: bytes | None = None
        for extension in request.extensions:
            if isinstance(extension.value, x509.OCSPNonce):
                nonce = der.octet_string(extension.value.nonce)
    except Exception:  # noqa: BLE001 - any refusal sends the request to the exact path
        return None
    if alg_name not in HASH_NAMES_TO_OID or cert_id not in data:
        return None
    return OcspRequest(
        cert_ids=(
            CertId(
                alg_name,
                request.issuer_name_hash,
                request.issuer_key_hash,
                request.serial_number,
                cert_id,
            ),
        ),
        nonce=nonce,
    )


def _slow_parse(data: bytes) -> OcspRequest:
    try:
        request = asn1_ocsp.OCSPRequest.load(data, strict=True)
        tbs = request["tbs_request"]
        cert_ids = []
        for entry in tbs["request_list"]:
            cert = entry["req_cert"]
            oid = cert["hash_algorithm"]["algorithm"].dotted
            cert_id = CertId(
                HASH_OIDS.get(oid, oid),
                bytes(cert["issuer_name_hash"].native),
                bytes(cert["issuer_key_hash"].native),
                int(cert["serial_number"].native),
                cert.dump(),
            )
            cert_ids.append(cert_id)
        nonce = None
        extensions = tbs["request_extensions"]
        if extensions.native is not None:
            for extension in extensions:
                if extension["extn_id"].dotted == NONCE_OID:
                    nonce = bytes(extension["extn_value"].contents)
    except MalformedRequestError:
        raise
    except Exception as exc:  # noqa: BLE001 - asn1crypto raises many types on bad DER
        raise MalformedRequestError(f"DER is not an OCSPRequest: {type(exc).__name__}") from None
    if not cert_ids:
        raise MalformedRequestError("OCSP request lists no CertID")
    return OcspRequest(tuple(cert_ids), nonce)


def _require_der(cert_id: CertId) -> None:
    """Refuse CertIDs that are BER but not DER (long-form lengths, padded integers, odd
    hash parameters): echoing them would make a response that strict clients reject.
    RFC 5754 allows the hash parameters to be absent or NULL, so both are accepted."""
    if cert_id.hash_algorithm not in HASH_NAMES_TO_OID:
        return  # answered "unauthorized", which echoes nothing
    fields = (
        cert_id.hash_algorithm,
        cert_id.issuer_name_hash,
        cert_id.issuer_key_hash,
        cert_id.serial_number,
    )
    if cert_id.der not in (_cert_id_der(*fields), _cert_id_der(*fields, null_params=False)):
        raise MalformedRequestError("CertID is not DER-encoded")


def parse_request(data: bytes) -> OcspRequest:
    """The CertIDs and nonce of a DER OCSPRequest; ``MalformedRequestError`` otherwise."""
    if not data:
        raise MalformedRequestError("empty request")
    return _fast_parse(data) or _slow_parse(data)


def check_answerable(request: OcspRequest) -> OcspRequest:
    """What a responder needs beyond decoding: every CertID in DER (it is echoed) and a
    nonce of the length RFC 8954 allows. Returns the request; raises otherwise."""
    for cert_id in request.cert_ids:
        _require_der(cert_id)
    if request.nonce is not None:
        _check_nonce(request.nonce)
    return request


@dataclass(frozen=True, slots=True)
class CertIdFields:
    """A CertID as the LAKE records it: hash name and lowercase hex."""

    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial: str


@dataclass(frozen=True, slots=True)
class RequestFields:
    cert_ids: tuple[CertIdFields, ...]
    nonce: bool


def request_fields(data: bytes) -> RequestFields:
    """The LAKE's view of a request: CertIDs in hex, and whether it carried a nonce.
    A CertID hashed with an algorithm certsight does not know is refused, since the
    LAKE could not resolve it to an issuer."""
    request = parse_request(data)
    fields = []
    for cert_id in request.cert_ids:
        if cert_id.hash_algorithm not in HASH_NAMES_TO_OID:
            raise MalformedRequestError(f"unknown CertID hash algorithm {cert_id.hash_algorithm}")
        fields.append(
            CertIdFields(
                cert_id.hash_algorithm,
                cert_id.issuer_name_hash.hex(),
                cert_id.issuer_key_hash.hex(),
                serial_hex(cert_id.serial_number),
            )
        )
    return RequestFields(tuple(fields), request.nonce is not None)
