"""The CAs this responder answers for, found by the issuer hashes in a CertID."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509

from pki.identity import issuer_hashes, key_sha1
from pki.keys import load_private_key
from pki.layout import ISSUING_NAME, ROOT_NAME, PkiLayout
from pki.ocsp_request import CertId
from pki.pem import load_pem_certificate
from responders.ocsp.response import ResponseSigner

log = logging.getLogger(__name__)
SIGNER_WARNING = timedelta(days=30)


@dataclass(frozen=True)
class Authority:
    """An issuer and the signer that speaks for it."""

    name: str
    issuer: x509.Certificate
    signer: ResponseSigner

    @property
    def issuer_key_sha1(self) -> str:
        return key_sha1(self.issuer)


class AuthorityIndex:
    def __init__(self, authorities: Iterable[Authority]) -> None:
        self._by_hashes: dict[tuple[str, bytes, bytes], tuple[Authority, str]] = {}
        self.authorities = list(authorities)
        for authority in self.authorities:
            sha1 = authority.issuer_key_sha1
            for algorithm, (name_hash, key_hash) in issuer_hashes(authority.issuer).items():
                self._by_hashes[(algorithm, name_hash, key_hash)] = (authority, sha1)

    def find(self, cert_id: CertId) -> tuple[Authority, str] | None:
        """The authority and its ``issuer_key_sha1``; both hashes must match (RFC 6960 4.1.1)."""
        return self._by_hashes.get(
            (cert_id.hash_algorithm, cert_id.issuer_name_hash, cert_id.issuer_key_hash)
        )


def load_authorities(layout: PkiLayout) -> AuthorityIndex:
    """The issuing CA answered by its delegated signer, and the root by the root's delegated
    signer where ``ca init`` made one, so the issuing CA's own status can be checked. No CA
    key is ever read here: the responder faces the internet."""
    issuing = load_pem_certificate(layout.issuing_cert)
    signer_cert = load_pem_certificate(layout.signer_cert)
    authorities = [
        Authority(
            ISSUING_NAME,
            issuing,
            ResponseSigner(signer_cert, load_private_key(layout.signer_key), include_cert=True),
        )
    ]
    if layout.root_signer_key.exists():
        authorities.append(
            Authority(
                ROOT_NAME,
                load_pem_certificate(layout.root_cert),
                ResponseSigner(
                    load_pem_certificate(layout.root_signer_cert),
                    load_private_key(layout.root_signer_key),
                    include_cert=True,
                ),
            )
        )
    soon = datetime.now(UTC) + SIGNER_WARNING
    for authority in authorities:
        if authority.signer.not_after < soon:
            log.warning(
                "the OCSP signer for %s expires on %s: clients will reject its responses "
                "after that; issue a new signer",
                authority.name,
                authority.signer.not_after.date(),
            )
    return AuthorityIndex(authorities)
