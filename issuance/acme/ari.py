"""Renewal information (RFC 9773): certIDs, and which CA an Authority Key Identifier
names.

A certID is ``base64url(AKI keyIdentifier) "." base64url(serial's DER content)``. The
AKI is matched against the subject key identifiers of the CAs the service's backends
issue under, which gives certsight's issuer key (``issuer_key_sha1``); the window
itself is the certificate's view from ``IssuanceService.certificate``, so a window
moved to now by early renewal reaches ACME clients with no coupling here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from cryptography import x509

from issuance.acme.eab import b64url, b64url_decode
from issuance.acme.problems import MALFORMED, NOT_FOUND, AcmeError
from issuance.backends.base import BackendError, CaBackend
from pki.identity import key_sha1
from pki.serials import serial_hex

log = logging.getLogger(__name__)


def parse_cert_id(cert_id: str) -> tuple[bytes, str]:
    """(AKI key identifier, serial as certsight spells it) or malformed."""
    aki_text, dot, serial_text = cert_id.partition(".")
    try:
        aki = b64url_decode(aki_text)
        serial_bytes = b64url_decode(serial_text)
    except ValueError:
        aki, serial_bytes = b"", b""
    if not dot or not aki or not serial_bytes or len(serial_bytes) > 21:
        raise AcmeError(
            MALFORMED,
            "a certID is base64url(AKI keyIdentifier).base64url(serial DER), unpadded",
        )
    return aki, serial_hex(int.from_bytes(serial_bytes, "big", signed=True))


def cert_id(certificate: x509.Certificate) -> str:
    """The certID of a certificate (for ``replaces`` and tests)."""
    aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    serial = certificate.serial_number
    length = (serial.bit_length() + 8) // 8
    identifier = aki.key_identifier or b""
    return f"{b64url(identifier)}.{b64url(serial.to_bytes(length, 'big', signed=True))}"


def subject_key_id(ca: x509.Certificate) -> bytes:
    try:
        return ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:  # RFC 5280's method (1), as issuers compute the AKI
        return x509.SubjectKeyIdentifier.from_public_key(ca.public_key()).digest


class IssuerIndex:
    """AKI key identifier -> ``issuer_key_sha1`` of the CAs the backends issue under;
    read once per backend (an upstream backend's chain may need the network)."""

    def __init__(
        self, backends: Callable[[], Iterable[str]], open_backend: Callable[[str], CaBackend]
    ):
        self._names = backends
        self._open = open_backend
        self._lock = threading.Lock()
        self._index: dict[bytes, str] = {}
        self._read: set[str] = set()

    def issuer_of(self, aki: bytes) -> str:
        with self._lock:
            found = self._index.get(aki)
            if found is not None:
                return found
            for name in self._names():
                if name in self._read:
                    continue
                try:
                    chain = self._open(name).chain()
                except BackendError as exc:
                    log.warning("ACME: CA backend %s has no chain to match AKIs: %s", name, exc)
                    continue
                self._read.add(name)
                for ca in chain:
                    self._index.setdefault(subject_key_id(ca), key_sha1(ca))
            found = self._index.get(aki)
        if found is None:
            raise AcmeError(NOT_FOUND, "no CA of this service has that authority key identifier")
        return found

    def issuer_of_certificate(self, certificate: x509.Certificate) -> str:
        try:
            aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
        except x509.ExtensionNotFound:
            raise AcmeError(NOT_FOUND, "the certificate has no authority key identifier") from None
        return self.issuer_of(aki.value.key_identifier or b"")
