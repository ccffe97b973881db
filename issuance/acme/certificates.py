"""What ACME does with issued certificates besides downloading them: revokeCert
(RFC 8555 7.6) and renewal information (RFC 9773 4) with the page its
``explanationURL`` names.

Revocation goes through ``IssuanceService.revoke``, as the API's does, so the CA
backend, the certificate store (OCSP answers, the next CRL) and the event record all
see it. It is allowed to the account that obtained the certificate (the same EAB
binding), to an account whose grant covers every name, or to whoever signs with the
certificate's own key.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from josepy.jwk import JWKEC, JWKRSA

from issuance.acme.accounts import Accounts
from issuance.acme.ari import IssuerIndex, parse_cert_id
from issuance.acme.jws import SignedRequest
from issuance.acme.problems import (
    BAD_REVOCATION_REASON,
    MALFORMED,
    NOT_FOUND,
    UNAUTHORIZED,
    AcmeError,
    from_problem,
)
from issuance.acme.resources import Reply, Urls, when
from issuance.policy import Grant
from issuance.problems import Problem
from issuance.service import IssuanceService
from issuance.views import CertificateView
from pki.reasons import RevocationReason
from pki.serials import serial_hex

EXPLANATION_PATH = "renewal-explanation"  # under the directory's base, as renewal-info


class Certificates:
    def __init__(
        self,
        *,
        service: IssuanceService,
        accounts: Accounts,
        issuers: IssuerIndex,
        retry_after: int,
        clock: Callable[[], datetime],
    ) -> None:
        self._service = service
        self._accounts = accounts
        self._issuers = issuers
        self._retry_after = retry_after
        self._clock = clock

    def revoke(self, request: SignedRequest, urls: Urls) -> Reply:
        payload = request.payload
        if not isinstance(payload, dict) or not isinstance(payload.get("certificate"), str):
            raise AcmeError(MALFORMED, 'revokeCert takes {"certificate": base64url DER}')
        try:
            text = payload["certificate"]
            der = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            certificate = x509.load_der_x509_certificate(der)
        except (ValueError, TypeError):
            raise AcmeError(MALFORMED, "certificate is not base64url DER") from None
        code = payload.get("reason", 0)
        try:
            reason = RevocationReason(code) if isinstance(code, int) else None
        except ValueError:
            reason = None
        if reason is None:
            raise AcmeError(BAD_REVOCATION_REASON, f"{code!r} is not an RFC 5280 reason code")
        issuer = self._issuers.issuer_of_certificate(certificate)
        serial = serial_hex(certificate.serial_number)
        try:
            view = self._service.certificate(issuer, serial)
        except Problem:
            raise AcmeError(NOT_FOUND, "this server did not issue that certificate") from None
        pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
        if view.certificate is not None and view.certificate != pem:
            raise AcmeError(NOT_FOUND, "this server did not issue that certificate")
        if request.kid is not None:
            account = self._accounts.row(urls.account_id(request.kid) or "")
            grant = self._accounts.grant(account)
        elif _thumbprint(certificate) == request.jwk.thumbprint():
            # Holding the certificate's key proves ownership (RFC 8555 7.6): act as the
            # requester that obtained it.
            grant = Grant(requester=view.requester, allow=(), profiles=(), rate_limit="")
        else:
            raise AcmeError(
                UNAUTHORIZED, "the JWS key is neither an account's nor the certificate's"
            )
        try:
            self._service.revoke(issuer, serial, reason, grant)
        except Problem as problem:
            raise from_problem(problem) from None
        return Reply(200)

    def renewal_info(self, cert_id: str, urls: Urls) -> Reply:
        view = self._view(cert_id)
        # A window moved to now (early renewal) may be a point: RFC 9773 wants end > start.
        end = max(view.renewal_end, view.renewal_start + timedelta(seconds=1))
        window = {"start": when(view.renewal_start), "end": when(end)}
        body: dict[str, object] = {"suggestedWindow": window}
        # Why it is due early (revoked, retiring CA, an analyst's flag): RFC 9773 4.2's
        # explanationURL, a page a person reads; clients only log or show the link.
        if view.renewal_reason:
            body["explanationURL"] = urls.of(f"{EXPLANATION_PATH}/{cert_id}")
        return Reply(200, body, retry_after=self._retry_after)

    def renewal_explanation(self, cert_id: str) -> Reply:
        """The page behind ``explanationURL``: plain text (no markup, nothing fetched),
        the certificate, its window and each early-renewal reason with its source and
        time. Who flagged it stays in the state; client addresses never reach a reason."""
        view = self._view(cert_id)
        lines = [
            f"Certificate {view.serial} ({', '.join(view.names)})",
            f"valid {when(view.not_before)} to {when(view.not_after)}",
            f"suggested renewal window: {when(view.renewal_start)} to {when(view.renewal_end)}",
            "",
        ]
        if not view.early_renewal:
            lines.append("This certificate is not due for early renewal: renew in its window.")
        else:
            lines.append("Renew this certificate now, because:")
            for item in view.early_renewal:
                shown = item.body()
                lines.append(
                    f"- {shown['reason']} ({shown['source']}, since {shown['flagged_at']})"
                )
        return Reply(200, "\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")

    def _view(self, cert_id: str) -> CertificateView:
        aki, serial = parse_cert_id(cert_id)
        issuer = self._issuers.issuer_of(aki)
        try:
            return self._service.certificate(issuer, serial)
        except Problem:
            raise AcmeError(NOT_FOUND, f"no certificate {serial} under that CA") from None


def _thumbprint(certificate: x509.Certificate) -> bytes | None:
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return JWKRSA(key=key).thumbprint()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return JWKEC(key=key).thumbprint()
    return None
