"""TLS for ``certsight serve issuance``: the server's own certificate, and the client
certificate handed to the app for mutual-TLS renewal.

uvicorn verifies a client certificate when one is sent (``CERT_OPTIONAL`` against the
issuing CAs), but does not pass it to the app. ``ClientCertProtocol`` adds it to each
request's scope as the ASGI TLS extension (``scope["extensions"]["tls"]
["client_cert_chain"]``, PEM), the field the app reads; the Lambda adapter fills the
same field from API Gateway's mutual-TLS context.

The server certificate is issued by the home CA to the service itself, at the first
start and again once it is inside its renewal window, through the same internal
backend that issues for everyone else.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pki.certificates import IssuedCertificate, issue_certificate
from pki.keys import load_private_key, write_private_key
from pki.layout import PkiLayout
from pki.pem import load_pem_certificate

SERVER_VALIDITY = timedelta(days=30)
SERVER_PROFILE = "issuance-server"

Scope = MutableMapping[str, Any]


@dataclass(frozen=True)
class ServerTls:
    certificate: Path  # leaf + chain, PEM
    key: Path
    client_cas: Path  # the CAs whose certificates may authenticate for renewal


def ensure_server_certificate(
    layout: PkiLayout,
    folder: Path,
    *,
    host: str,
    now: datetime,
    on_issued: Callable[[IssuedCertificate], None] | None = None,
) -> ServerTls:
    """The service's TLS certificate under ``folder``, issued again once two thirds of
    its life have passed or when ``host`` is not among its names."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    client_cas = folder / "client-cas.pem"
    names = _server_names(host)
    if not _still_good(cert_path, key_path, names, now):
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .sign(key, hashes.SHA256())
        )
        from issuance.signers import open_issuing_signer

        issued = issue_certificate(
            common_name=names[0],
            sans=names,
            validity=SERVER_VALIDITY,
            issuing_cert=load_pem_certificate(layout.issuing_cert),
            issuing_key=open_issuing_signer(layout),
            config=layout.read_config(),
            now=now,
            csr=csr,
            requester="certsight-issuance",
            profile=SERVER_PROFILE,
            ekus=("serverAuth",),
        )
        for stale in (key_path, cert_path):
            stale.unlink(missing_ok=True)
        write_private_key(key_path, key)
        leaf = issued.certificate.public_bytes(serialization.Encoding.PEM)
        cert_path.write_bytes(leaf + layout.chain.read_bytes())
        if on_issued is not None:  # into the inventory, so OCSP answers for it
            on_issued(issued)
    client_cas.write_bytes(layout.chain.read_bytes())
    return ServerTls(certificate=cert_path, key=key_path, client_cas=client_cas)


def _server_names(host: str) -> list[str]:
    names = [host] if host not in ("0.0.0.0", "::", "") else []  # noqa: S104 - compared, not bound
    for extra in ("localhost", "127.0.0.1", socket.gethostname().lower()):
        if extra and extra not in names:
            names.append(extra)
    return names


def _still_good(cert_path: Path, key_path: Path, names: list[str], now: datetime) -> bool:
    if not (cert_path.exists() and key_path.exists()):
        return False
    try:
        certificate = load_pem_certificate(cert_path)
        key = load_private_key(key_path)
    except ValueError:
        return False
    if certificate.public_key() != key.public_key():
        return False
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    present = {str(n.value) for n in sans}
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    renew_at = certificate.not_valid_before_utc + lifetime * 2 / 3
    return set(names) <= present and now < renew_at


def server_ssl_options(tls: ServerTls) -> dict[str, Any]:
    """uvicorn's TLS settings: our certificate, and client certificates optional but
    verified against the issuing CAs when sent."""
    return {
        "ssl_certfile": str(tls.certificate),
        "ssl_keyfile": str(tls.key),
        "ssl_ca_certs": str(tls.client_cas),
        "ssl_cert_reqs": ssl.CERT_OPTIONAL,
    }


class ClientCertProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, passing the verified client certificate to the app."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if der:
            pem = ssl.DER_cert_to_PEM_cert(der)
            self.app = _with_client_certificate(self.app, pem)


def _with_client_certificate(
    app: Callable[..., Awaitable[None]], pem: str
) -> Callable[..., Awaitable[None]]:
    async def wrapped(scope: Scope, receive: Any, send: Any) -> None:
        extensions = dict(scope.get("extensions") or {})
        extensions["tls"] = {**extensions.get("tls", {}), "client_cert_chain": [pem]}
        scope["extensions"] = extensions
        await app(scope, receive, send)

    return wrapped
