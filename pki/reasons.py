"""Revocation reasons: the RFC 5280 CRLReason codes (section 5.3.1)."""

from __future__ import annotations

import enum
import re

from cryptography import x509


class ReasonError(ValueError):
    """A revocation reason that RFC 5280 does not define or that cannot be used here."""


class RevocationReason(enum.IntEnum):
    """CRLReason values; 7 is unused by the RFC."""

    unspecified = 0
    keyCompromise = 1
    cACompromise = 2
    affiliationChanged = 3
    superseded = 4
    cessationOfOperation = 5
    certificateHold = 6
    removeFromCRL = 8
    privilegeWithdrawn = 9
    aACompromise = 10

    @classmethod
    def parse(cls, text: str) -> RevocationReason:
        """Accept the RFC name in any case, with or without ``_``/``-``, or the number."""
        if text.strip().startswith(("-", "+")):  # "-1" would otherwise read as code 1
            raise ReasonError(f"unknown revocation reason {text!r}")
        key = re.sub(r"[\s_-]", "", text).lower()
        if key.isdigit() and int(key) in cls._value2member_map_:
            return cls(int(key))
        for member in cls:
            if member.name.lower() == key:
                return member
        names = ", ".join(m.name for m in cls if m is not cls.removeFromCRL)
        raise ReasonError(f"unknown revocation reason {text!r}; use one of: {names}")

    def to_x509(self) -> x509.ReasonFlags:
        return _X509_FLAGS[self]


_X509_FLAGS = {
    RevocationReason.unspecified: x509.ReasonFlags.unspecified,
    RevocationReason.keyCompromise: x509.ReasonFlags.key_compromise,
    RevocationReason.cACompromise: x509.ReasonFlags.ca_compromise,
    RevocationReason.affiliationChanged: x509.ReasonFlags.affiliation_changed,
    RevocationReason.superseded: x509.ReasonFlags.superseded,
    RevocationReason.cessationOfOperation: x509.ReasonFlags.cessation_of_operation,
    RevocationReason.certificateHold: x509.ReasonFlags.certificate_hold,
    RevocationReason.removeFromCRL: x509.ReasonFlags.remove_from_crl,
    RevocationReason.privilegeWithdrawn: x509.ReasonFlags.privilege_withdrawn,
    RevocationReason.aACompromise: x509.ReasonFlags.aa_compromise,
}
