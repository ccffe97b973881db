"""AWS Private CA (ACM PCA) as a CA backend, through boto3's ``acm-pca`` client.

PCA is asynchronous: ``IssueCertificate`` answers with a certificate ARN at once and
``GetCertificate`` says ``RequestInProgressException`` until the certificate is signed
(usually within a second or two). ``submit`` waits up to ``wait_seconds`` for it and
otherwise hands the ARN back as a ``Pending`` reference, which ``poll`` collects later
from any process.

What matters most here is telling the service *how* a call failed, since that decides
whether the order moves on to the profile's next CA (``BackendUnavailableError``), ends
(``BackendRefusedError``), or points at a broken configuration (``BackendConfigError``).
``aws_pca_errors`` holds that mapping, with the reasons for the debatable cases, and
``aws_pca_shapes`` the tables and pure functions that turn an order into PCA's request
fields (ARNs, serials, reasons, validity, passthrough) and PCA's chains into ordered ones.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from issuance.backends.aws_pca_errors import code_of, error_for
from issuance.backends.aws_pca_shapes import (
    ALGORITHM_FOR_KEY,
    CERTIFICATE_ID,
    PASSTHROUGH_TEMPLATE,
    PCA_REASONS,
    SIGNING_ALGORITHMS,
    api_passthrough,
    ca_arn_parts,
    chain_above,
    complete,
    idempotency_token,
    load_bundle,
    pca_serial,
    validity_for,
)
from issuance.backends.base import (
    BackendConfigError,
    BackendContext,
    BackendError,
    BackendRefusedError,
    BackendUnavailableError,
    CaBackend,
    CertificateOrder,
    Issued,
    Pending,
    SubmitResult,
)
from issuance.backends.settings import AwsPcaBackendSettings
from pki.identity import key_sha1
from pki.reasons import RevocationReason

if TYPE_CHECKING:
    from mypy_boto3_acm_pca import ACMPCAClient
    from mypy_boto3_acm_pca.literals import SigningAlgorithmType
    from mypy_boto3_acm_pca.type_defs import IssueCertificateRequestTypeDef

log = logging.getLogger(__name__)

_STATUS_TTL_SECONDS = 60.0


class AwsPcaBackend(CaBackend):
    slug = "aws-pca"

    def __init__(self, name: str, *, client: ACMPCAClient, settings: AwsPcaBackendSettings) -> None:
        super().__init__(name)
        partition = ca_arn_parts(name, settings.ca_arn)["partition"]
        passthrough = f"arn:{partition}:acm-pca:::template/EndEntityCertificate_APIPassthrough/V1"
        plain = f"arn:{partition}:acm-pca:::template/EndEntityCertificate/V1"
        template = settings.template_arn or (passthrough if settings.api_passthrough else plain)
        if settings.api_passthrough and not PASSTHROUGH_TEMPLATE.search(template):
            raise BackendConfigError(
                f"CA backend {name}: api_passthrough needs an *_APIPassthrough template, "
                f"and {template} is not one (the order's names would not reach the certificate)"
            )
        if (
            settings.signing_algorithm is not None
            and settings.signing_algorithm not in SIGNING_ALGORITHMS
        ):
            known = ", ".join(sorted(SIGNING_ALGORITHMS))
            raise BackendConfigError(
                f"CA backend {name}: unknown signing_algorithm {settings.signing_algorithm!r}; "
                f"use one of: {known}"
            )
        self._client = client
        self._settings = settings
        self._ca_arn = settings.ca_arn
        self._template_arn = template
        self._certificate_arn = re.compile(re.escape(settings.ca_arn) + CERTIFICATE_ID)
        # Caches: a race between threads only costs a duplicate read, so no lock.
        self._signing_algorithm: str | None = settings.signing_algorithm
        self._chain: tuple[x509.Certificate, ...] | None = None
        self._status: tuple[float, str] | None = None

    @classmethod
    def from_settings(
        cls, name: str, settings: AwsPcaBackendSettings, context: BackendContext
    ) -> AwsPcaBackend:
        """A client for the CA's own region unless told otherwise (the ARN names it), with
        short timeouts and few retries: a CA that does not answer promptly should hand the
        order to the next one rather than hold the requester."""
        import boto3
        from botocore.config import Config

        region = settings.region or ca_arn_parts(name, settings.ca_arn)["region"]
        config = Config(
            connect_timeout=settings.connect_timeout_seconds,
            read_timeout=settings.read_timeout_seconds,
            retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
            user_agent_extra="certsight-issuance",
        )
        try:
            client = boto3.session.Session().client(
                "acm-pca",
                region_name=region,
                endpoint_url=settings.endpoint_url,
                config=config,
            )
        except (BotoCoreError, ValueError) as exc:
            raise BackendConfigError(
                f"CA backend {name}: cannot set up the AWS Private CA client ({type(exc).__name__})"
            ) from exc
        return cls(name, client=client, settings=settings)

    # -- issuing -----------------------------------------------------------------------
    def submit(self, order: CertificateOrder) -> SubmitResult:
        request: IssueCertificateRequestTypeDef = {
            "CertificateAuthorityArn": self._ca_arn,
            "Csr": order.csr.public_bytes(serialization.Encoding.PEM),
            "SigningAlgorithm": self._algorithm(),
            "Validity": validity_for(order.validity, order.now),
            "TemplateArn": self._template_arn,
            "IdempotencyToken": idempotency_token(order),
        }
        if self._settings.api_passthrough:
            request["ApiPassthrough"] = api_passthrough(self.name, order)
        try:
            certificate_arn = self._client.issue_certificate(**request)["CertificateArn"]
        except (ClientError, BotoCoreError) as exc:
            raise self._error_for("IssueCertificate", exc) from exc
        log.info("CA backend %s: %s accepted as %s", self.name, order.request_id, certificate_arn)
        result = self._collect(certificate_arn, wait=self._settings.wait_seconds)
        if isinstance(result, Issued) and result.certificate.public_key() != order.csr.public_key():
            raise BackendRefusedError(
                f"CA backend {self.name}: AWS Private CA returned a certificate for another "
                f"key ({certificate_arn})"
            )
        return result

    def poll(self, reference: str) -> SubmitResult:
        if not self._certificate_arn.fullmatch(reference):
            raise BackendRefusedError(
                f"CA backend {self.name}: {reference!r} is not a certificate of this CA"
            )
        return self._collect(reference, wait=0)

    def _collect(self, certificate_arn: str, *, wait: float) -> SubmitResult:
        """GetCertificate until it is ready or ``wait`` seconds have passed.

        Once IssueCertificate has accepted the order, PCA will sign it: a throttled or
        unanswered GetCertificate then means "ask again later" (Pending), not "try the next
        CA", which would issue a second certificate for the same order. RequestFailed
        (PCA gave up on it) is reported, since then nothing was issued."""
        deadline = time.monotonic() + wait
        delay = 0.25
        while True:
            try:
                answer = self._client.get_certificate(
                    CertificateAuthorityArn=self._ca_arn, CertificateArn=certificate_arn
                )
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code == "RequestInProgressException":
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return Pending(certificate_arn, retry_after=self._settings.poll_seconds)
                    time.sleep(min(delay, remaining))
                    delay = min(delay * 2, 1.0)
                    continue
                if code == "ResourceNotFoundException":  # the CA answered: no such certificate
                    raise BackendRefusedError(
                        f"CA backend {self.name}: AWS Private CA knows no certificate "
                        f"{certificate_arn} (ResourceNotFoundException)"
                    ) from exc
                error = self._error_for("GetCertificate", exc)
                if isinstance(error, BackendUnavailableError) and code not in (
                    "RequestFailedException",
                    "InvalidStateException",
                ):
                    log.warning("%s; %s stays pending", error, certificate_arn)
                    return Pending(certificate_arn, retry_after=self._settings.poll_seconds)
                raise error from exc
            except BotoCoreError as exc:
                error = self._error_for("GetCertificate", exc)
                if isinstance(error, BackendUnavailableError):
                    log.warning("%s; %s stays pending", error, certificate_arn)
                    return Pending(certificate_arn, retry_after=self._settings.poll_seconds)
                raise error from exc
            return self._issued(
                certificate_arn, answer["Certificate"], answer.get("CertificateChain")
            )

    def _issued(self, certificate_arn: str, certificate_pem: str, chain_pem: str | None) -> Issued:
        """The certificate with its chain, issuing CA first: from GetCertificate's chain if
        that reaches a root, else completed from the CA's own certificate and chain (a root
        CA's answer may hold only itself, or nothing)."""
        try:
            certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
            pool = load_bundle(chain_pem)
        except ValueError as exc:
            raise BackendUnavailableError(
                f"CA backend {self.name}: AWS Private CA answered GetCertificate for "
                f"{certificate_arn} with PEM that does not parse"
            ) from exc
        chain = chain_above(certificate, pool)
        if not complete(chain):
            chain = chain_above(certificate, [*pool, *self.chain()])
        if not chain:  # the CA's certificate changed since it was cached (renewed)
            self._chain = None
            chain = chain_above(certificate, [*pool, *self.chain()])
        if not chain:
            raise BackendUnavailableError(
                f"CA backend {self.name}: the certificate {certificate_arn} does not chain to "
                "the CA's certificate"
            )
        return Issued(certificate=certificate, chain=chain)

    def _algorithm(self) -> SigningAlgorithmType:
        """The configured algorithm, else the one that fits the CA's key (read once)."""
        if self._signing_algorithm is None:
            try:
                authority = self._client.describe_certificate_authority(
                    CertificateAuthorityArn=self._ca_arn
                )["CertificateAuthority"]
            except (ClientError, BotoCoreError) as exc:
                raise self._error_for("DescribeCertificateAuthority", exc) from exc
            self._remember_status(authority.get("Status"))
            key_algorithm = authority.get("CertificateAuthorityConfiguration", {}).get(
                "KeyAlgorithm", ""
            )
            algorithm = ALGORITHM_FOR_KEY.get(key_algorithm)
            if algorithm is None:
                raise BackendConfigError(
                    f"CA backend {self.name}: no default signing algorithm for a "
                    f"{key_algorithm or 'unknown'} CA key; set signing_algorithm"
                )
            self._signing_algorithm = algorithm
        return cast("SigningAlgorithmType", self._signing_algorithm)

    # -- revoking ----------------------------------------------------------------------
    def revoke(self, certificate: x509.Certificate, reason: RevocationReason) -> None:
        """RevokeCertificate; PCA then lists it in its CRL and OCSP, if the CA has them."""
        pca_reason = PCA_REASONS.get(reason)
        if pca_reason is None:
            raise BackendRefusedError(
                f"CA backend {self.name}: AWS Private CA revocation is permanent and has no "
                f"{reason.name} (no certificate hold, nothing to remove from a CRL)"
            )
        issuing = self.chain()[0]
        if certificate.issuer != issuing.subject:
            raise BackendRefusedError(
                f"CA backend {self.name}: the certificate was not issued by this CA "
                f"({certificate.issuer.rfc4514_string()})"
            )
        try:
            self._client.revoke_certificate(
                CertificateAuthorityArn=self._ca_arn,
                CertificateSerial=pca_serial(certificate.serial_number),
                RevocationReason=pca_reason,
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "RequestAlreadyProcessedException":  # revoked before: the wish holds
                log.info("CA backend %s: serial already revoked at AWS", self.name)
                return
            raise self._error_for("RevokeCertificate", exc) from exc
        except BotoCoreError as exc:
            raise self._error_for("RevokeCertificate", exc) from exc

    # -- the CA itself -----------------------------------------------------------------
    def chain(self) -> tuple[x509.Certificate, ...]:
        """The CA's certificate and the chain above it, read once."""
        if self._chain is None:
            try:
                answer = self._client.get_certificate_authority_certificate(
                    CertificateAuthorityArn=self._ca_arn
                )
            except (ClientError, BotoCoreError) as exc:
                raise self._error_for("GetCertificateAuthorityCertificate", exc) from exc
            try:
                ca_certificate = x509.load_pem_x509_certificate(answer["Certificate"].encode())
                above = load_bundle(answer.get("CertificateChain"))
            except (KeyError, ValueError) as exc:
                raise BackendUnavailableError(
                    f"CA backend {self.name}: AWS Private CA answered "
                    "GetCertificateAuthorityCertificate with PEM that does not parse"
                ) from exc
            ordered = chain_above(ca_certificate, above)
            self._chain = (ca_certificate, *ordered) if ordered else (ca_certificate, *above)
        return self._chain

    def describe(self) -> dict[str, Any]:
        """Never raises: a CA that cannot be reached is still listed, with the reason."""
        info: dict[str, Any] = {**super().describe(), "ca_arn": self._ca_arn}
        try:
            issuing = self.chain()[0]
        except BackendError as exc:
            info["error"] = str(exc)
        else:
            info["subject"] = issuing.subject.rfc4514_string()
            info["issuer_key_sha1"] = key_sha1(issuing)
            info["not_after"] = issuing.not_valid_after_utc.isoformat()
        info["status"] = self._current_status()
        return info

    def _current_status(self) -> str:
        """DescribeCertificateAuthority's Status, at most once a minute (it has a low
        per-account rate, and ``GET /v1/cas`` may be called often)."""
        now = time.monotonic()
        if self._status is not None and now - self._status[0] < _STATUS_TTL_SECONDS:
            return self._status[1]
        try:
            authority = self._client.describe_certificate_authority(
                CertificateAuthorityArn=self._ca_arn
            )["CertificateAuthority"]
        except (ClientError, BotoCoreError) as exc:
            return f"unknown ({code_of(exc)})"
        return self._remember_status(authority.get("Status"))

    def _remember_status(self, status: str | None) -> str:
        value = status or "unknown"
        self._status = (time.monotonic(), value)
        return value

    def close(self) -> None:
        self._client.close()

    # -- errors ------------------------------------------------------------------------
    def _error_for(self, operation: str, exc: ClientError | BotoCoreError) -> BackendError:
        """The base error an AWS failure means for the order (see ``aws_pca_errors``)."""
        return error_for(self.name, operation, exc)
