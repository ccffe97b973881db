"""The ``[issuance.backends.NAME]`` tables: one model per backend type, chosen by ``type``.

Only pydantic here, so that reading certsight.toml never imports boto3 or the ACME
client; each backend module takes its own model from this file. Secrets are never
values in the file: a ``*_env`` key names the environment variable that holds them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# TOML has no path type: a string is read as a path (strict mode would refuse it).
FilePath = Annotated[Path, Field(strict=False)]


class _Backend(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class InternalBackendSettings(_Backend):
    """A CA whose certificate is on this host and whose key is a file or in AWS KMS.

    With no keys, the home CA (``HOME/pki``), signing with the key ``ca init`` made
    (a file, or the KMS key it was told to use)."""

    type: Literal["internal"] = "internal"
    certificate: FilePath | None = None  # the issuing CA's certificate (PEM)
    chain: FilePath | None = None  # the CA certificates above it, issuing CA first (PEM)
    key: FilePath | None = None  # the issuing CA's key file (PEM, 0600)
    kms_key_id: str | None = None  # key id, ARN or alias of an ECC_NIST_P256 SIGN_VERIFY key
    region: str | None = None
    endpoint_url: str | None = None  # another KMS endpoint (a VPC endpoint, a test server)


class AwsPcaBackendSettings(_Backend):
    """AWS Private CA: certificates issued by a PCA certificate authority."""

    type: Literal["aws-pca"]
    ca_arn: str = Field(min_length=1)
    template_arn: str | None = None  # default: EndEntityCertificate[_APIPassthrough]/V1
    signing_algorithm: str | None = None  # default: from the CA's key algorithm
    region: str | None = None
    endpoint_url: str | None = None
    wait_seconds: float = Field(default=2.0, ge=0, le=60)  # before answering "pending"
    poll_seconds: int = Field(default=1, ge=1, le=60)  # Retry-After for pending orders
    # Put the order's SANs and EKUs into the certificate through PCA's API passthrough
    # (needs an *_APIPassthrough template); otherwise the CSR's own extensions are used.
    api_passthrough: bool = False
    # Per AWS call, first try included: few, so that a slow CA hands over to the next one.
    max_attempts: int = Field(default=3, ge=1, le=10)
    connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    read_timeout_seconds: float = Field(default=10.0, gt=0, le=120)


class AcmeBackendSettings(_Backend):
    """Any ACME CA (RFC 8555) as an upstream: a public CA or a commercial CA's endpoint."""

    type: Literal["acme"]
    directory: str = Field(min_length=1)  # the directory URL
    contact: list[str] = []  # mailto: addresses for the account
    eab_kid: str | None = None  # External Account Binding key id
    eab_hmac_key_env: str | None = None  # variable holding the base64url EAB HMAC key
    challenge: Literal["http-01", "dns-01"] = "http-01"
    http_host: str = "0.0.0.0"  # noqa: S104 - the CA validates from outside; explicit setting
    http_port: int = Field(default=80, ge=1, le=65535)  # built-in http-01 responder
    webroot: FilePath | None = None  # write http-01 files here instead of serving them
    hook: str | None = None  # command run to present/clean up a challenge (dns-01)
    ca_bundle: FilePath | None = None  # trust anchors for the directory's TLS, if private
    timeout_seconds: float = Field(default=90.0, gt=0, le=600)


BackendSettings = Annotated[
    InternalBackendSettings | AwsPcaBackendSettings | AcmeBackendSettings,
    Field(discriminator="type"),
]
