from __future__ import annotations

import pytest

from pki.reasons import RevocationReason
from pki.serials import SerialFormatError, parse_serial, serial_hex


@pytest.mark.parametrize(
    "value,expected",
    [
        (0, "00"),
        (1, "01"),
        (255, "ff"),
        (256, "0100"),
        (2**159, "80" + "00" * 19),
        (-1, "ff"),
        (-128, "80"),
        (-129, "ff7f"),
    ],
)
def test_serial_hex_is_lowercase_even_length(value: int, expected: str) -> None:
    assert serial_hex(value) == expected


@pytest.mark.parametrize(
    "typed",
    [
        "0A1B2C",
        "0a1b2c",
        "0x0a1b2c",
        "0X0A1B2C",
        "0a:1b:2c",
        "0A:1B:2C",
        "serial=0A1B2C",
        " a1b2c ",
        "00:0a:1b:2c",
    ],
)
def test_serials_as_people_paste_them(typed: str) -> None:
    assert parse_serial(typed) == "0a1b2c"


@pytest.mark.parametrize("typed", ["", "0x", "xyz", "12-34", "g1", "ab" * 22])
def test_bad_serials_are_refused_with_the_input_named(typed: str) -> None:
    with pytest.raises(SerialFormatError, match="serial"):
        parse_serial(typed)


@pytest.mark.parametrize(
    "typed,reason",
    [
        ("keyCompromise", RevocationReason.keyCompromise),
        ("key_compromise", RevocationReason.keyCompromise),
        ("KEYCOMPROMISE", RevocationReason.keyCompromise),
        ("cessation-of-operation", RevocationReason.cessationOfOperation),
        ("superseded", RevocationReason.superseded),
        ("cACompromise", RevocationReason.cACompromise),
        ("1", RevocationReason.keyCompromise),
    ],
)
def test_reason_names(typed: str, reason: RevocationReason) -> None:
    assert RevocationReason.parse(typed) is reason


def test_unknown_reason_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="keyCompromise"):
        RevocationReason.parse("stolen")
    with pytest.raises(ValueError):
        RevocationReason.parse("7")
