"""Serial numbers as the LAKE spells them: lowercase hex with an even number of digits.

A serial alone is unique only per issuer (RFC 5280 4.1.2.2), so everywhere in
certsight a certificate is keyed by ``(issuer_key_sha1, serial_hex)``.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s:]")
_HEX = re.compile(r"[0-9a-f]+")


class SerialFormatError(ValueError):
    """A serial number as typed by a person could not be read as hex."""


def serial_hex(serial: int) -> str:
    """Return the canonical spelling of a certificate serial number.

    Negative serials violate RFC 5280 but exist in the wild; they are spelled
    as their two's-complement DER content octets so that they still round-trip.
    """
    if serial >= 0:
        digits = format(serial, "x")
    else:
        length = ((~serial).bit_length() + 8) // 8
        digits = serial.to_bytes(length, "big", signed=True).hex()
    return digits if len(digits) % 2 == 0 else "0" + digits


def parse_serial(text: str) -> str:
    """Read a serial as people paste it and return its canonical spelling.

    Accepts any case, colons and blanks between bytes, a ``0x`` prefix and the
    ``serial=`` prefix that ``openssl x509 -serial`` prints.
    """
    cleaned = _SEPARATORS.sub("", text.strip()).lower()
    cleaned = cleaned.removeprefix("serial=").removeprefix("0x")
    if not cleaned or not _HEX.fullmatch(cleaned):
        raise SerialFormatError(f"not a hexadecimal serial number: {text!r}")
    if len(cleaned) > 42:
        # RFC 5280 caps serials at 20 octets; allow one extra for a sign octet.
        raise SerialFormatError(f"serial number longer than 20 octets: {text!r}")
    return serial_hex(int(cleaned, 16))
