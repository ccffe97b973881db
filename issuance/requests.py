"""From what a caller sent to what may be certified: the CSR read, its key judged
against the profile, and the names it asks for normalised.

Every refusal is a ``Problem`` of its own type, since a requester fixes a broken
PEM, a tampered CSR, a weak key and a wrong name in different places.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from issuance.patterns import normalise_name
from issuance.problems import (
    BAD_CSR_SIGNATURE,
    MALFORMED_CSR,
    NAME_NOT_ALLOWED,
    WEAK_KEY,
    Problem,
)
from issuance.settings import Profile
from pki.keys import describe_key
from pki.names import NameError_

MAX_CSR_CHARS = 32 * 1024


@dataclass(frozen=True)
class ReadCsr:
    csr: x509.CertificateSigningRequest
    names: tuple[str, ...]  # normalised, in the CSR's order, no duplicates


def read_csr(pem: str) -> ReadCsr:
    """Parse a PEM CSR and verify its signature; the names are its SANs (DNS names and
    IP addresses), or its CN alone when it has none."""
    if len(pem) > MAX_CSR_CHARS or "-----BEGIN CERTIFICATE REQUEST-----" not in pem:
        raise Problem(
            MALFORMED_CSR,
            "csr must be one PEM block '-----BEGIN CERTIFICATE REQUEST-----' "
            f"of at most {MAX_CSR_CHARS} characters",
        )
    try:
        csr = x509.load_pem_x509_csr(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise Problem(MALFORMED_CSR, f"csr cannot be parsed as PKCS#10: {exc}") from None
    try:
        valid = csr.is_signature_valid
        subject = csr.subject
        extensions = csr.extensions
    except (ValueError, x509.DuplicateExtension, UnsupportedAlgorithm) as exc:
        # an unknown signature or key algorithm, a broken or repeated extension
        raise Problem(MALFORMED_CSR, f"csr cannot be read: {exc}") from None
    except x509.UnsupportedGeneralNameType as exc:
        raise Problem(MALFORMED_CSR, f"csr carries an unsupported name type: {exc}") from None
    if not valid:
        raise Problem(
            BAD_CSR_SIGNATURE,
            "the CSR's signature does not verify with its own key: it was altered or broken",
        )
    return ReadCsr(csr=csr, names=_names(subject, extensions))


def _names(subject: x509.Name, extensions: x509.Extensions) -> tuple[str, ...]:
    try:
        sans = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        sans = None
    raw: list[str] = []
    if sans is not None:
        for general in sans:
            if not isinstance(general, x509.DNSName | x509.IPAddress):
                kind = type(general).__name__
                raise Problem(
                    NAME_NOT_ALLOWED,
                    f"the CSR asks for a {kind}; only DNS names and IP addresses are certified",
                    name=str(general.value),
                    rule="san-type",
                )
            raw.append(str(general.value))
    else:
        raw.extend(
            str(attribute.value)
            for attribute in subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        )
    names: list[str] = []
    for text in raw:
        name = _normalise(text)
        if name not in names:
            names.append(name)
    if not names:
        raise Problem(
            MALFORMED_CSR, "the CSR names nothing: give DNS names or IP addresses as SANs"
        )
    return tuple(names)


def _normalise(text: str) -> str:
    try:
        return normalise_name(text)
    except NameError_:
        raise Problem(
            NAME_NOT_ALLOWED, f"{text!r} is not a DNS name or IP address", name=text, rule="syntax"
        ) from None


MAX_COMMON_NAME = 64  # RFC 5280 ub-common-name


def common_name_of(names: Sequence[str]) -> str:
    """The subject CN: the first name that fits in a CN (clients match on the SANs; the
    CN is for people reading the certificate)."""
    for name in names:
        if len(name) <= MAX_COMMON_NAME:
            return name
    raise Problem(
        NAME_NOT_ALLOWED,
        f"every name is longer than {MAX_COMMON_NAME} characters; one must fit the subject CN",
        name=names[0],
        rule="common-name",
    )


def choose_names(csr_names: Sequence[str], asked: Sequence[str] | None) -> tuple[str, ...]:
    """The names to certify: the CSR's, or the subset ``sans`` narrows them to."""
    if asked is None:
        return tuple(csr_names)
    chosen: list[str] = []
    for text in asked:
        name = _normalise(text)
        if name not in csr_names:
            raise Problem(
                NAME_NOT_ALLOWED,
                f"{name} is not among the CSR's names; sans may only repeat or narrow them",
                name=name,
                rule="not-in-csr",
            )
        if name not in chosen:
            chosen.append(name)
    if not chosen:
        raise Problem(NAME_NOT_ALLOWED, "sans is empty: name at least one", name="", rule="empty")
    return tuple(chosen)


def check_key(csr: x509.CertificateSigningRequest, profile: Profile, profile_name: str) -> str:
    """Refuse keys the profile does not accept; return the key's label (``ec-p256``)."""
    try:
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise Problem(WEAK_KEY, f"the CSR's key cannot be used: {exc}") from None
    label = describe_key(key)
    allowed = ", ".join(profile.key_types)
    if isinstance(key, rsa.RSAPublicKey):
        if "rsa" not in profile.key_types:
            raise Problem(WEAK_KEY, f"profile {profile_name} takes {allowed} keys, not RSA")
        if key.key_size < profile.min_rsa_bits:
            raise Problem(
                WEAK_KEY,
                f"RSA keys of {key.key_size} bits are too weak; profile {profile_name} needs "
                f"at least {profile.min_rsa_bits}",
            )
        if key.public_numbers().e not in (65537,):
            raise Problem(WEAK_KEY, "RSA keys must use the public exponent 65537")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if "ec" not in profile.key_types:
            raise Problem(WEAK_KEY, f"profile {profile_name} takes {allowed} keys, not EC")
        if key.curve.name not in profile.ec_curves:
            raise Problem(
                WEAK_KEY,
                f"EC curve {key.curve.name} is not accepted; profile {profile_name} takes "
                f"{', '.join(profile.ec_curves)}",
            )
    elif isinstance(key, ed25519.Ed25519PublicKey):
        if "ed25519" not in profile.key_types:
            raise Problem(WEAK_KEY, f"profile {profile_name} takes {allowed} keys, not Ed25519")
    else:
        raise Problem(WEAK_KEY, f"unsupported key type {label}; profile takes {allowed}")
    return label
