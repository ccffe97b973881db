"""Addresses inside free text (a quarantined log line, an alert's evidence) become the
same keyed pseudonyms as whole addresses; nothing else is touched, and a second pass
changes nothing (retention runs every day over the same records)."""

from __future__ import annotations

import pytest

from dashboards.privacy import is_pseudonym, pseudonym, pseudonymise_text

KEY = b"text-key"


def p(address: str) -> str:
    return pseudonym(address, KEY)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from 192.0.2.1:443 ok", f"from {p('192.0.2.1')}:443 ok"),
        ("[2001:db8::1]:443", f"[{p('2001:db8::1')}]:443"),
        ("::ffff:192.0.2.1", p("::ffff:192.0.2.1")),
        ("fe80::1%eth0 x", f"{p('fe80::1%eth0')} x"),
        (
            '{"c":"10.1.0.5","l":["2001:db8::7"]}',
            f'{{"c":"{p("10.1.0.5")}","l":["{p("2001:db8::7")}"]}}',
        ),
        ("x\t192.0.2.44\t-", f"x\t{p('192.0.2.44')}\t-"),
        ("192.0.2.1,%20198.51.100.2", f"{p('192.0.2.1')},%20{p('198.51.100.2')}"),
        ("end of 192.0.2.9.", f"end of {p('192.0.2.9')}."),
    ],
)
def test_every_address_in_text_becomes_its_pseudonym(text: str, expected: str) -> None:
    assert pseudonymise_text(text, KEY) == expected
    assert pseudonymise_text(expected, KEY) == expected  # a pseudonym holds no address


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-01T10:00:00Z",  # a time reads like hex groups and colons
        "00:1a:2b:3c:4d:5e",  # a MAC address is no IP address
        "std::vector and a :: b",
        "999.1.1.1 and 1.2.3.4.5",
        "0.0.0.0 and ::",  # names no host
        "http_status: 99999999999 is out of range (0..999)",
    ],
)
def test_text_without_an_address_is_left_alone(text: str) -> None:
    assert pseudonymise_text(text, KEY) == text


def test_pseudonyms_are_recognised_whole() -> None:
    assert is_pseudonym(p("192.0.2.1"))
    assert not is_pseudonym("192.0.2.1")
    assert not is_pseudonym(p("192.0.2.1") + "0")
    assert not is_pseudonym("client-XYZ")
