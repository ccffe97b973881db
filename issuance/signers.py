"""The issuing CA's signing key, wherever it lives: a PEM file, or AWS KMS.

The certificate and CRL builders of ``cryptography`` call the key object's own
``sign()``; both kinds of key here are such objects, so the builders never know
which one they hold. :class:`KmsSigner` is an ``EllipticCurvePrivateKey`` whose
private half never leaves KMS: ``sign()`` is a KMS ``Sign`` call, ``public_key()``
the key KMS gave once (``GetPublicKey``), and everything that would need the private
scalar refuses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn, Protocol

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from pki.keys import SigningKey, load_private_key
from pki.layout import PkiLayout
from pki.pem import load_pem_certificate

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateNumbers
    from cryptography.utils import Buffer
    from mypy_boto3_kms import KMSClient

# KMS takes a RAW message of at most 4096 bytes (API_Sign, Message); anything longer,
# a CRL with a few hundred entries, goes as its SHA-256 digest instead.
RAW_MESSAGE_LIMIT = 4096
KEY_SPEC = "ECC_NIST_P256"
KEY_USAGE = "SIGN_VERIFY"
SIGNING_ALGORITHM: Literal["ECDSA_SHA_256"] = "ECDSA_SHA_256"

# KMS error codes worth a retry: the key is fine, the service is busy or briefly away.
_TRANSIENT = frozenset(
    {
        "ThrottlingException",
        "LimitExceededException",
        "KMSInternalException",
        "DependencyTimeoutException",
        "KeyUnavailableException",
        "ServiceUnavailableException",
    }
)
_REASONS = {
    "NotFoundException": "no such key in this account and region",
    "DisabledException": "the key is disabled",
    "KMSInvalidStateException": "the key cannot sign in its state (pending deletion?)",
    "AccessDeniedException": "not allowed to use the key (kms:Sign, kms:GetPublicKey)",
    "InvalidKeyUsageException": f"the key is not a {KEY_USAGE} key",
    "UnsupportedOperationException": "the key is not an asymmetric key",
    "ThrottlingException": "KMS throttled the request (signing is rate-limited per region)",
    "LimitExceededException": "KMS request quota exceeded",
    "KeyUnavailableException": "the key is unavailable for now",
    "KMSInternalException": "KMS failed internally",
    "DependencyTimeoutException": "KMS timed out",
    "UnrecognizedClientException": "the AWS credentials are not valid",
}


class KmsSignerError(ValueError):
    """KMS could not sign or describe the key, or the key cannot be a CA key.

    Messages name the key and the KMS error code, never key material. ``transient``
    says whether the same call may succeed later (throttling, an unreachable endpoint),
    so a scheduler can retry it rather than page someone.
    """

    def __init__(self, message: str, *, code: str | None = None, transient: bool = False):
        super().__init__(message)
        self.code = code
        self.transient = transient


class KmsOnlySignsError(NotImplementedError):
    """An operation that needs the private scalar: it never leaves KMS, so none can."""


class KmsApi(Protocol):
    """The two KMS calls a signer makes; a boto3 KMS client is one, so is a test double."""

    def get_public_key(self, *, KeyId: str) -> Mapping[str, Any]: ...

    def sign(
        self,
        *,
        KeyId: str,
        Message: bytes,
        MessageType: Literal["RAW", "DIGEST"],
        SigningAlgorithm: Literal["ECDSA_SHA_256"],
    ) -> Mapping[str, Any]: ...


def _kms_error(key_id: str, action: str, exc: BotoCoreError | ClientError) -> KmsSignerError:
    """One named error for every way a KMS call fails, with what an operator can act on."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
        reason = _REASONS.get(code) or str(exc.response.get("Error", {}).get("Message", ""))
        return KmsSignerError(
            f"KMS key {key_id}: {action} failed: {reason} ({code})",
            code=code,
            transient=code in _TRANSIENT,
        )
    if isinstance(exc, EndpointConnectionError | BotoConnectionError | ReadTimeoutError):
        return KmsSignerError(
            f"KMS key {key_id}: {action} failed: KMS endpoint unreachable ({type(exc).__name__})",
            code=type(exc).__name__,
            transient=True,
        )
    if isinstance(exc, NoRegionError):
        return KmsSignerError(
            f"KMS key {key_id}: no AWS region: give one (--kms-region) or set AWS_REGION",
            code="NoRegionError",
        )
    if isinstance(exc, NoCredentialsError):
        return KmsSignerError(
            f"KMS key {key_id}: {action} failed: no AWS credentials found",
            code="NoCredentialsError",
        )
    return KmsSignerError(
        f"KMS key {key_id}: {action} failed: {type(exc).__name__}", code=type(exc).__name__
    )


def kms_client(*, region: str | None, endpoint_url: str | None) -> KMSClient:
    """A boto3 KMS client; ``None`` leaves region and endpoint to the default chain
    (AWS_REGION, AWS_ENDPOINT_URL, config files). Retries follow that chain too.

    Timeouts are short: a CA signature is one small request, and a CRL updater stuck
    for botocore's default minute on a dead endpoint would miss its refresh.
    """
    import boto3
    from botocore.config import Config

    return boto3.client(
        "kms",
        region_name=region,
        endpoint_url=endpoint_url,
        config=Config(connect_timeout=5, read_timeout=15),
    )


class KmsSigner(ec.EllipticCurvePrivateKey):
    """An ECC_NIST_P256 SIGN_VERIFY key in AWS KMS, as ``cryptography`` sees a private key.

    Made with :meth:`open`, which asks KMS for the public key once, refuses any other
    kind of key, and keeps the answer: the OCSP builder calls ``public_key()`` for
    every response and KMS must not be asked each time.
    """

    def __init__(
        self,
        key_id: str,
        client: KmsApi,
        public_key: ec.EllipticCurvePublicKey,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.key_id = key_id
        self.region = region
        self.endpoint_url = endpoint_url
        self._client = client
        self._public_key = public_key

    @classmethod
    def open(
        cls,
        key_id: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        client: KmsApi | None = None,
    ) -> KmsSigner:
        """Describe ``key_id`` (an id, ARN or alias) and refuse it unless it can be an
        ECDSA P-256 CA key. ``key_id`` becomes the id KMS answers with (an ARN in AWS),
        so an alias pointed elsewhere later cannot swap the CA's key unnoticed.

        ``region`` is the client's resolved region when this builds the client, so what
        ``ca init`` records works on a host whose default region differs.
        """
        if client is None:
            try:
                built = kms_client(region=region, endpoint_url=endpoint_url)
            except BotoCoreError as exc:  # NoRegionError, at construction
                raise _kms_error(key_id, "client", exc) from exc
            region, client = built.meta.region_name, built
        try:
            answer = client.get_public_key(KeyId=key_id)
        except (BotoCoreError, ClientError) as exc:
            raise _kms_error(key_id, "GetPublicKey", exc) from exc
        # Real KMS answers KeySpec and the deprecated CustomerMasterKeySpec; moto only the latter.
        spec = answer.get("KeySpec") or answer.get("CustomerMasterKeySpec")
        usage = answer.get("KeyUsage")
        if spec != KEY_SPEC or usage != KEY_USAGE:
            raise KmsSignerError(
                f"KMS key {key_id} is a {spec} key for {usage}; an issuing CA key must be "
                f"{KEY_SPEC} with key usage {KEY_USAGE}",
                code="KeySpecMismatch",
            )
        public = serialization.load_der_public_key(bytes(answer["PublicKey"]))
        if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(
            public.curve, ec.SECP256R1
        ):
            raise KmsSignerError(
                f"KMS key {key_id}: GetPublicKey returned no P-256 key", code="KeySpecMismatch"
            )
        resolved = str(answer.get("KeyId") or key_id)
        return cls(resolved, client, public, region=region, endpoint_url=endpoint_url)

    # -- what the builders call ---------------------------------------------------------

    def sign(self, data: Buffer, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        """ECDSA with SHA-256 in KMS: RAW up to 4096 bytes, else the SHA-256 DIGEST.

        The signature is checked with the cached public key before it is returned: a
        wrong one (an alias moved, a fault) would otherwise be published in a
        certificate or CRL that every relying party rejects, and a local verify costs
        a fraction of the KMS round trip.
        """
        _require_ecdsa_sha256(signature_algorithm)
        message = bytes(data)
        kind: Literal["RAW", "DIGEST"] = "RAW"
        payload = message
        if len(message) > RAW_MESSAGE_LIMIT:
            kind, payload = "DIGEST", hashlib.sha256(message).digest()
        try:
            answer = self._client.sign(
                KeyId=self.key_id,
                Message=payload,
                MessageType=kind,
                SigningAlgorithm=SIGNING_ALGORITHM,
            )
        except (BotoCoreError, ClientError) as exc:
            raise _kms_error(self.key_id, f"Sign ({kind})", exc) from exc
        signature = bytes(answer["Signature"])
        try:
            self._public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise KmsSignerError(
                f"KMS key {self.key_id}: the {kind} signature KMS returned does not verify "
                "with the key's public key; it is not used",
                code="InvalidSignature",
            ) from None
        return signature

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public_key

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public_key.curve

    @property
    def key_size(self) -> int:
        return self._public_key.key_size

    # -- what needs the private scalar ----------------------------------------------------

    def _refuse(self, operation: str) -> NoReturn:
        raise KmsOnlySignsError(
            f"{operation} needs the private key, which never leaves KMS (key {self.key_id}); "
            "a KMS signer can only sign() and give its public_key()"
        )

    def private_numbers(self) -> EllipticCurvePrivateNumbers:
        self._refuse("private_numbers")

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        self._refuse("private_bytes")

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        self._refuse("ECDH exchange")

    def __copy__(self) -> KmsSigner:
        return self  # nothing to copy: the key is in KMS, the client is shared

    def __deepcopy__(self, memo: dict[int, object]) -> KmsSigner:
        return self

    def __repr__(self) -> str:
        return f"KmsSigner(key_id={self.key_id!r}, region={self.region!r})"


def _require_ecdsa_sha256(algorithm: ec.EllipticCurveSignatureAlgorithm) -> None:
    """KMS signs this key only with ECDSA_SHA_256, so anything else must fail loudly
    here rather than come back as a signature over another hash."""
    if not isinstance(algorithm, ec.ECDSA):
        raise UnsupportedAlgorithm(f"a KMS signer signs with ECDSA only, not {algorithm!r}")
    if isinstance(algorithm.algorithm, Prehashed):
        raise UnsupportedAlgorithm(
            "a KMS signer takes the message itself (it sends SHA-256 digests of long ones)"
        )
    if not isinstance(algorithm.algorithm, hashes.SHA256):
        raise UnsupportedAlgorithm(
            f"a KMS signer signs with ECDSA_SHA_256 only, not {algorithm.algorithm.name}"
        )
    if algorithm.deterministic_signing:
        raise UnsupportedAlgorithm("KMS ECDSA signatures are randomised, never deterministic")


def open_issuing_signer(
    layout: PkiLayout,
    *,
    key: Path | None = None,
    kms_key_id: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> SigningKey:
    """The issuing CA's key: ``kms_key_id`` names a KMS key, ``key`` a file; with
    neither, the one ``ca init`` set up for the home CA (``ca.json`` names a KMS key,
    else ``issuing-ca.key``)."""
    if key is not None and kms_key_id is not None:
        raise ValueError("the issuing key is either a file or a KMS key, not both")
    if kms_key_id is not None:
        return KmsSigner.open(kms_key_id, region=region, endpoint_url=endpoint_url)
    if key is not None:
        return load_private_key(key)
    config = layout.read_config() if layout.config.exists() else None
    if config is None or config.issuing_kms_key_id is None:
        return load_private_key(layout.issuing_key)
    signer = KmsSigner.open(
        config.issuing_kms_key_id,
        region=region or config.kms_region,
        endpoint_url=endpoint_url or config.kms_endpoint_url,
    )
    # The home's certificate is what relying parties check signatures against: a KMS key
    # that is not the certified one would sign certificates and CRLs nobody accepts.
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    certified = load_pem_certificate(layout.issuing_cert).public_key().public_bytes(der, spki)
    if signer.public_key().public_bytes(der, spki) != certified:
        raise KmsSignerError(
            f"KMS key {signer.key_id} is not the key certified in {layout.issuing_cert}",
            code="KeyMismatch",
        )
    return signer
