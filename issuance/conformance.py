"""That a certificate certifies exactly what policy accepted, whatever CA built it.

The internal CA builds the subject and SANs from the order's names. AWS Private CA
(without API passthrough) and an upstream ACME CA certify the CSR as it is, so a CSR
that carries more than the order (a name ``sans`` narrowed away, an ``O=`` in the
subject) must not reach them, and whatever a CA returns is checked again before it is
delivered.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID

from issuance.backends.base import CertificateOrder
from issuance.patterns import normalise_name
from pki.names import NameError_


def _names(general: x509.SubjectAlternativeName | None) -> set[str] | None:
    if general is None:
        return set()
    found: set[str] = set()
    for name in general:
        if not isinstance(name, x509.DNSName | x509.IPAddress):
            return None
        try:
            found.add(normalise_name(str(name.value)))
        except NameError_:
            return None
    return found


def _subject_problem(subject: x509.Name, names: tuple[str, ...]) -> str | None:
    for attribute in subject:
        if attribute.oid != NameOID.COMMON_NAME:
            return f"its subject carries {attribute.oid._name}, which nobody checked"
        try:
            value = normalise_name(str(attribute.value))
        except NameError_:
            return "its subject CN is not one of the accepted names"
        if value not in names:
            return f"its subject CN {value} is not one of the accepted names"
    return None


def csr_problem(order: CertificateOrder) -> str | None:
    """Why a CA that certifies the CSR as it is would certify more than the order."""
    try:
        extension = order.csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        sans = _names(extension.value)
    except x509.ExtensionNotFound:
        sans = _names(None)
    if sans is None:
        return "the CSR carries a name type this service does not certify"
    if sans and sans != set(order.names):
        return (
            "this CA certifies the CSR's names as they are; ask for all of them (no sans "
            "that narrow the CSR) or send a CSR with only the names wanted"
        )
    return _subject_problem(order.csr.subject, order.names)


def certificate_problem(certificate: x509.Certificate, order: CertificateOrder) -> str | None:
    """Why a certificate a CA returned must not be delivered for this order."""
    if certificate.public_key() != order.csr.public_key():
        return "it certifies another key"
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        sans = _names(extension.value)
    except x509.ExtensionNotFound:
        sans = set()
    if sans != set(order.names):
        return "its names differ from the accepted ones"
    return _subject_problem(certificate.subject, order.names)
