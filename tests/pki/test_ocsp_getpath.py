from __future__ import annotations

import base64

import pytest

from pki.ocsp_getpath import GetDecodeError, decode_get_request

DER = bytes(range(0x30, 0x30 + 50)) + b"\xfb\xff\xfe"


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: t,
        lambda t: "/" + t,
        lambda t: t.replace("/", "%2F").replace("+", "%2B").replace("=", "%3D"),
        lambda t: t.replace("+", "-").replace("/", "_").rstrip("="),
        lambda t: t.replace("/", "%252F"),
        lambda t: t[:10] + "\n" + t[10:],
    ],
)
def test_client_encodings_decode_to_the_same_bytes(encode: object) -> None:
    text = base64.b64encode(DER).decode()
    assert "/" in text and "+" in text
    assert decode_get_request(encode(text)) == DER  # type: ignore[operator]


def test_plus_is_never_a_space() -> None:
    text = base64.b64encode(DER).decode()
    assert decode_get_request(text.replace("+", "%2B")) == decode_get_request(text)


@pytest.mark.parametrize("bad", ["", "/", "@@@@", "%ZZ", "A" * 9000, "%C3%28"])
def test_bad_paths_raise_get_decode_error(bad: str) -> None:
    with pytest.raises(GetDecodeError):
        decode_get_request(bad)
