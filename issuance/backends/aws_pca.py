"""AWS Private CA (ACM PCA) as a CA backend, through boto3's ``acm-pca`` client.

PCA is asynchronous: ``IssueCertificate`` answers with a certificate ARN at once and
``GetCertificate`` says ``RequestInProgressException`` until the certificate is signed
(usually within a second or two). ``submit`` waits up to ``wait_seconds`` for it and
otherwise hands the ARN back as a ``Pending`` reference, which ``poll`` collects later
from any process.

What matters most here is telling the service *how* a call failed, since that decides
whether the order moves on to the profile's next CA (``BackendUnavailableError``), ends
(``BackendRefusedError``), or points at a broken configuration (``BackendConfigError``).
``_error_for`` holds that mapping, with the reasons for the debatable cases. Messages
name the backend, the operation and AWS's error code; AWS's own text is passed on only
where it describes the requester's input (a malformed CSR), never for authorisation
errors, whose text names IAM principals and accounts.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, cast

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

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
    from mypy_boto3_acm_pca.literals import (
        ExtendedKeyUsageTypeType,
        RevocationReasonType,
        SigningAlgorithmType,
    )
    from mypy_boto3_acm_pca.type_defs import (
        ApiPassthroughTypeDef,
        ExtendedKeyUsageTypeDef,
        GeneralNameTypeDef,
        IssueCertificateRequestTypeDef,
        ValidityTypeDef,
    )

log = logging.getLogger(__name__)

_CA_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):acm-pca:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):"
    r"certificate-authority/(?P<id>[0-9A-Za-z-]{1,64})"
)
_CERTIFICATE_ID = r"/certificate/[0-9A-Za-z]{1,64}"
# The templates that take ApiPassthrough (EndEntityCertificate_APIPassthrough/V1,
# BlankEndEntityCertificate_APICSRPassthrough/V1, ...): the other templates do not take
# passthrough values, so asking for passthrough with one is a configuration error.
_PASSTHROUGH_TEMPLATE = re.compile(r"template/[A-Za-z0-9]+_API(CSR)?Passthrough/V\d+$")

_SIGNING_ALGORITHMS: Final = frozenset(
    {
        "SHA256WITHECDSA",
        "SHA384WITHECDSA",
        "SHA512WITHECDSA",
        "SHA256WITHRSA",
        "SHA384WITHRSA",
        "SHA512WITHRSA",
        "SHA256WITHRSA_PSS",
        "SHA384WITHRSA_PSS",
        "SHA512WITHRSA_PSS",
        "SM3WITHSM2",
        "ML_DSA_44",
        "ML_DSA_65",
        "ML_DSA_87",
    }
)
# The CA's KeyAlgorithm -> the signature PCA should make with it: the hash matched to the
# curve's strength for EC, SHA-256 for RSA (what every client verifies).
_ALGORITHM_FOR_KEY: Final[dict[str, str]] = {
    "EC_prime256v1": "SHA256WITHECDSA",
    "EC_secp384r1": "SHA384WITHECDSA",
    "EC_secp521r1": "SHA512WITHECDSA",
    "RSA_2048": "SHA256WITHRSA",
    "RSA_3072": "SHA256WITHRSA",
    "RSA_4096": "SHA256WITHRSA",
    "SM2": "SM3WITHSM2",
    "ML_DSA_44": "ML_DSA_44",
    "ML_DSA_65": "ML_DSA_65",
    "ML_DSA_87": "ML_DSA_87",
}

_EKU_TYPES: Final[dict[str, ExtendedKeyUsageTypeType]] = {
    "serverAuth": "SERVER_AUTH",
    "clientAuth": "CLIENT_AUTH",
    "codeSigning": "CODE_SIGNING",
    "emailProtection": "EMAIL_PROTECTION",
    "timeStamping": "TIME_STAMPING",
}

_PCA_REASONS: Final[dict[RevocationReason, RevocationReasonType]] = {
    RevocationReason.unspecified: "UNSPECIFIED",
    RevocationReason.keyCompromise: "KEY_COMPROMISE",
    RevocationReason.cACompromise: "CERTIFICATE_AUTHORITY_COMPROMISE",
    RevocationReason.affiliationChanged: "AFFILIATION_CHANGED",
    RevocationReason.superseded: "SUPERSEDED",
    RevocationReason.cessationOfOperation: "CESSATION_OF_OPERATION",
    RevocationReason.privilegeWithdrawn: "PRIVILEGE_WITHDRAWN",
    RevocationReason.aACompromise: "A_A_COMPROMISE",
}

# -- how AWS errors map onto the backend contract -----------------------------------------
# Unavailable: another CA may well succeed, and this one may later.
_UNAVAILABLE_CODES: Final = {
    "ThrottlingException": "AWS throttled the request",
    "Throttling": "AWS throttled the request",
    "TooManyRequestsException": "AWS throttled the request",
    "RequestLimitExceeded": "AWS throttled the request",
    # PCA's LimitExceededException is an account quota (IssueCertificate requests per
    # second, or certificates per CA): a property of this CA's account, not of the order.
    # A CA elsewhere is not bound by it, and refusing would fail orders that are fine.
    "LimitExceededException": "an AWS Private CA quota of this CA's account is exhausted",
    "RequestFailedException": "AWS Private CA failed to process the request",
    "RequestInProgressException": "AWS Private CA is still processing an earlier request",
    "ConcurrentModificationException": "the CA is being changed; try again shortly",
    # The CA exists but cannot sign now (DISABLED, EXPIRED, PENDING_CERTIFICATE, DELETED):
    # nothing wrong with the order, and another CA can serve it.
    "InvalidStateException": "the CA is not active (disabled, expired or not yet installed)",
    "InternalFailure": "AWS Private CA had an internal error",
    "InternalError": "AWS Private CA had an internal error",
    "InternalServerError": "AWS Private CA had an internal error",
    "InternalServerException": "AWS Private CA had an internal error",
    "ServiceUnavailable": "AWS Private CA is unavailable",
    "ServiceUnavailableException": "AWS Private CA is unavailable",
    "RequestTimeout": "AWS Private CA timed out",
    "RequestTimeoutException": "AWS Private CA timed out",
}
# Config: no order can succeed until someone changes the settings, IAM or the CA.
_CONFIG_CODES: Final = {
    "InvalidArnException": "the configured ca_arn is not a valid CA ARN",
    "ResourceNotFoundException": "the configured ca_arn names no CA this account can see",
    "AccessDeniedException": "the AWS identity may not use this CA (IAM or CA policy)",
    "AccessDenied": "the AWS identity may not use this CA (IAM or CA policy)",
    "UnrecognizedClientException": "AWS does not recognise the credentials",
    "InvalidClientTokenId": "AWS does not recognise the credentials",
    "InvalidSignatureException": "AWS rejected the request signature (check the credentials)",
    "IncompleteSignature": "AWS rejected the request signature (check the credentials)",
    "ExpiredTokenException": "the AWS credentials have expired",
    "ExpiredToken": "the AWS credentials have expired",
    "MissingAuthenticationToken": "the request reached AWS without credentials",
    "UnknownOperationException": "the endpoint does not speak the AWS Private CA API",
}
# Refused: PCA looked at this request and said no; another CA must not overrule it.
_REFUSED_CODES: Final = {
    "MalformedCSRException": "AWS Private CA rejected the CSR",
    "InvalidArgsException": "AWS Private CA rejected the request's arguments",
    "InvalidRequestException": "AWS Private CA does not allow this request",
    "ValidationException": "AWS Private CA rejected the request's arguments",
    "MalformedCertificateException": "AWS Private CA rejected the certificate",
}
# AWS's message is passed on for these: it describes the requester's own input.
_ECHO_CODES: Final = frozenset(
    {
        "MalformedCSRException",
        "InvalidArgsException",
        "InvalidRequestException",
        "ValidationException",
    }
)
_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{12,}\b")
_STATUS_TTL_SECONDS = 60.0


def _ca_arn_parts(name: str, arn: str) -> re.Match[str]:
    """The parts of a PCA CA ARN (partition, region, account, id): checked before any
    call, so that a typo is reported as such rather than as AWS's InvalidArnException."""
    match = _CA_ARN.fullmatch(arn)
    if match is None:
        raise BackendConfigError(
            f"CA backend {name}: ca_arn is not an AWS Private CA ARN "
            "(arn:aws:acm-pca:REGION:ACCOUNT:certificate-authority/ID)"
        )
    return match


def pca_serial(serial_number: int) -> str:
    """The serial as RevokeCertificate wants it: colon-separated lowercase hex bytes, the
    form ``openssl x509 -text`` prints (``0a:1b:...``), without a DER sign byte."""
    if serial_number < 0:
        raise BackendRefusedError("a certificate with a negative serial number cannot be revoked")
    data = serial_number.to_bytes(max(1, (serial_number.bit_length() + 7) // 8), "big")
    return data.hex(":")


def idempotency_token(order: CertificateOrder) -> str:
    """PCA issues one certificate per token within five minutes, so a retried submit (the
    service restarting, a timeout after PCA had accepted) does not issue twice. The CSR is
    part of it so that one request id can never collect a certificate for another key;
    32 hex characters fit PCA's limit of 36."""
    csr_der = order.csr.public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(order.request_id.encode() + b"\x00" + csr_der)
    return digest.hexdigest()[:32]


def validity_for(validity: timedelta, now: datetime) -> ValidityTypeDef:
    """Whole days as DAYS (counted by PCA from issuance); anything else as the END_DATE it
    means from the order's time (GeneralizedTime digits), since PCA has no hours unit."""
    seconds = int(validity.total_seconds())
    if seconds <= 0:
        raise BackendRefusedError("the order's validity is not positive")
    if seconds % 86400 == 0:
        return {"Value": seconds // 86400, "Type": "DAYS"}
    end = now.astimezone(UTC) + timedelta(seconds=seconds)
    return {"Value": int(end.strftime("%Y%m%d%H%M%S")), "Type": "END_DATE"}


def _load_bundle(text: str | None) -> list[x509.Certificate]:
    if not text or not text.strip():
        return []
    return x509.load_pem_x509_certificates(text.encode())


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """Names chain and, where cryptography can check it, the signature verifies."""
    if child.issuer != parent.subject:
        return False
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    except UnsupportedAlgorithm:  # e.g. ML-DSA: the names have to do
        return True
    return True


def _self_issued(certificate: x509.Certificate) -> bool:
    return certificate.subject == certificate.issuer


def chain_above(
    certificate: x509.Certificate, pool: list[x509.Certificate]
) -> tuple[x509.Certificate, ...]:
    """The certificates from ``pool`` above ``certificate``, issuing CA first, root last.

    Built by following issuers rather than trusting the order AWS returns, which differs
    between GetCertificate and GetCertificateAuthorityCertificate."""
    chain: list[x509.Certificate] = []
    current = certificate
    while not _self_issued(current) and len(chain) < len(pool):
        parent = next((c for c in pool if c not in chain and _issued_by(current, c)), None)
        if parent is None:
            break
        chain.append(parent)
        current = parent
    return tuple(chain)


def _complete(chain: tuple[x509.Certificate, ...]) -> bool:
    return bool(chain) and _self_issued(chain[-1])


def _scrub(message: str) -> str:
    text = _ACCESS_KEY_ID.sub("[key id]", " ".join(message.split()))
    return text if len(text) <= 300 else text[:297] + "..."


class AwsPcaBackend(CaBackend):
    slug = "aws-pca"

    def __init__(self, name: str, *, client: ACMPCAClient, settings: AwsPcaBackendSettings) -> None:
        super().__init__(name)
        partition = _ca_arn_parts(name, settings.ca_arn)["partition"]
        passthrough = f"arn:{partition}:acm-pca:::template/EndEntityCertificate_APIPassthrough/V1"
        plain = f"arn:{partition}:acm-pca:::template/EndEntityCertificate/V1"
        template = settings.template_arn or (passthrough if settings.api_passthrough else plain)
        if settings.api_passthrough and not _PASSTHROUGH_TEMPLATE.search(template):
            raise BackendConfigError(
                f"CA backend {name}: api_passthrough needs an *_APIPassthrough template, "
                f"and {template} is not one (the order's names would not reach the certificate)"
            )
        if (
            settings.signing_algorithm is not None
            and settings.signing_algorithm not in _SIGNING_ALGORITHMS
        ):
            known = ", ".join(sorted(_SIGNING_ALGORITHMS))
            raise BackendConfigError(
                f"CA backend {name}: unknown signing_algorithm {settings.signing_algorithm!r}; "
                f"use one of: {known}"
            )
        self._client = client
        self._settings = settings
        self._ca_arn = settings.ca_arn
        self._template_arn = template
        self._certificate_arn = re.compile(re.escape(settings.ca_arn) + _CERTIFICATE_ID)
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

        region = settings.region or _ca_arn_parts(name, settings.ca_arn)["region"]
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
            request["ApiPassthrough"] = self._passthrough(order)
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
            pool = _load_bundle(chain_pem)
        except ValueError as exc:
            raise BackendUnavailableError(
                f"CA backend {self.name}: AWS Private CA answered GetCertificate for "
                f"{certificate_arn} with PEM that does not parse"
            ) from exc
        chain = chain_above(certificate, pool)
        if not _complete(chain):
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
            algorithm = _ALGORITHM_FOR_KEY.get(key_algorithm)
            if algorithm is None:
                raise BackendConfigError(
                    f"CA backend {self.name}: no default signing algorithm for a "
                    f"{key_algorithm or 'unknown'} CA key; set signing_algorithm"
                )
            self._signing_algorithm = algorithm
        return cast("SigningAlgorithmType", self._signing_algorithm)

    def _passthrough(self, order: CertificateOrder) -> ApiPassthroughTypeDef:
        """The order's checked SANs and EKUs, for CSRs that do not carry them."""
        names: list[GeneralNameTypeDef] = []
        for name in order.names:
            try:
                names.append({"IpAddress": str(ipaddress.ip_address(name))})
            except ValueError:
                names.append({"DnsName": name})
        ekus: list[ExtendedKeyUsageTypeDef] = []
        for eku in order.ekus:
            if eku not in _EKU_TYPES:
                raise BackendRefusedError(
                    f"CA backend {self.name}: AWS Private CA has no extended key usage {eku!r}"
                )
            ekus.append({"ExtendedKeyUsageType": _EKU_TYPES[eku]})
        passthrough: ApiPassthroughTypeDef = {"Extensions": {}}
        if names:
            passthrough["Extensions"]["SubjectAlternativeNames"] = names
        if ekus:
            passthrough["Extensions"]["ExtendedKeyUsage"] = ekus
        return passthrough

    # -- revoking ----------------------------------------------------------------------
    def revoke(self, certificate: x509.Certificate, reason: RevocationReason) -> None:
        """RevokeCertificate; PCA then lists it in its CRL and OCSP, if the CA has them."""
        pca_reason = _PCA_REASONS.get(reason)
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
                above = _load_bundle(answer.get("CertificateChain"))
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
            return f"unknown ({_code_of(exc)})"
        return self._remember_status(authority.get("Status"))

    def _remember_status(self, status: str | None) -> str:
        value = status or "unknown"
        self._status = (time.monotonic(), value)
        return value

    def close(self) -> None:
        self._client.close()

    # -- errors ------------------------------------------------------------------------
    def _error_for(self, operation: str, exc: ClientError | BotoCoreError) -> BackendError:
        """The base error an AWS failure means for the order (see the tables above)."""
        code = _code_of(exc)
        prefix = f"CA backend {self.name}: AWS Private CA {operation} failed with {code}"
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            request_id = exc.response.get("ResponseMetadata", {}).get("RequestId", "-")
            log.warning(
                "CA backend %s: %s -> %s (request id %s): %s",
                self.name,
                operation,
                code,
                request_id,
                _scrub(error.get("Message", "")),
            )
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in _CONFIG_CODES:
                return BackendConfigError(f"{prefix}: {_CONFIG_CODES[code]}")
            if code in _UNAVAILABLE_CODES:
                return BackendUnavailableError(f"{prefix}: {_UNAVAILABLE_CODES[code]}")
            if code in _REFUSED_CODES:
                detail = _scrub(error.get("Message", "")) if code in _ECHO_CODES else ""
                text = f"{prefix}: {_REFUSED_CODES[code]}"
                return BackendRefusedError(f"{text} ({detail})" if detail else text)
            if status >= 500 or (code.isdigit() and int(code) >= 500):
                return BackendUnavailableError(f"{prefix}: AWS answered HTTP {status or code}")
            # An error AWS has not documented for PCA, about this request: the CA said no.
            return BackendRefusedError(f"{prefix}: AWS declined the request")
        log.warning("CA backend %s: %s -> %s", self.name, operation, code)
        if isinstance(exc, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
            return BackendConfigError(f"{prefix}: no usable AWS credentials were found")
        if isinstance(exc, ParamValidationError):
            return BackendRefusedError(f"{prefix}: the request does not fit PCA's limits")
        # Connection refused, DNS, TLS, timeouts, a connection closed mid-answer.
        return BackendUnavailableError(f"{prefix}: the endpoint could not be reached in time")


def _code_of(exc: ClientError | BotoCoreError) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or "an unnamed error"
    return type(exc).__name__
