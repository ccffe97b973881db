"""Certificate extensions shared by the CA, signer and leaf profiles."""

from __future__ import annotations

from cryptography import x509


def signing_key_usage(*, certifies: bool = False, key_encipherment: bool = False) -> x509.KeyUsage:
    """digitalSignature always; keyCertSign and cRLSign for CAs; keyEncipherment for RSA
    TLS keys (RSA key exchange). Everything else is off: a profile asks only for what it uses."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=certifies,
        crl_sign=certifies,
        encipher_only=False,
        decipher_only=False,
    )
