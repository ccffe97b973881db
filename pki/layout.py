"""Where the CA material lives under ``HOME/pki``; file names are an interface."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pki.keys import KeyType

# The CAs' names are file stems and URL path parts (/crl/<name>.crl): an interface.
ROOT_NAME = "root-ca"
ISSUING_NAME = "issuing-ca"


@dataclass(frozen=True)
class PkiLayout:
    root: Path

    @property
    def root_cert(self) -> Path:
        return self.root / "root-ca.pem"

    @property
    def root_key(self) -> Path:
        """The root key: keep it offline in production; while it is here, the CRL updater
        re-signs the root's CRL. The responders never read it."""
        return self.root / "root-ca.key"

    @property
    def issuing_cert(self) -> Path:
        return self.root / "issuing-ca.pem"

    @property
    def issuing_key(self) -> Path:
        return self.root / "issuing-ca.key"

    @property
    def signer_cert(self) -> Path:
        return self.root / "ocsp-signer.pem"

    @property
    def signer_key(self) -> Path:
        return self.root / "ocsp-signer.key"

    @property
    def root_signer_cert(self) -> Path:
        """The root's delegated OCSP signer: answers for the issuing CA's own status."""
        return self.root / "root-ocsp-signer.pem"

    @property
    def root_signer_key(self) -> Path:
        return self.root / "root-ocsp-signer.key"

    @property
    def chain(self) -> Path:
        """Issuing CA then root: what a server sends after its leaf."""
        return self.root / "ca-chain.pem"

    @property
    def config(self) -> Path:
        return self.root / "ca.json"

    @property
    def crl_dir(self) -> Path:
        return self.root / "crl"

    @property
    def store(self) -> Path:
        return self.root / "certificates.sqlite"

    def exists(self) -> bool:
        return self.issuing_cert.exists() or self.config.exists()

    def holds_issuing_key(self) -> bool:
        """Whether this home can sign as the issuing CA: its key file is here, or
        ``ca.json`` names the KMS key that holds it (AWS permissions decide the rest)."""
        if self.issuing_key.exists():
            return True
        return self.config.exists() and self.read_config().issuing_kms_key_id is not None

    def read_config(self) -> CaConfig:
        if not self.config.exists():
            raise FileNotFoundError(f"no CA under {self.root}: run `certsight ca init` first")
        data = json.loads(self.config.read_text())
        # The KMS fields are absent from ca.json files written before KMS keys existed.
        return CaConfig(
            base_url=data["base_url"],
            key_type=KeyType(data["key_type"]),
            issuing_kms_key_id=data.get("issuing_kms_key_id"),
            kms_region=data.get("kms_region"),
            kms_endpoint_url=data.get("kms_endpoint_url"),
        )


@dataclass(frozen=True)
class CaConfig:
    """Settings chosen at ``ca init`` that later issuance must repeat."""

    base_url: str
    key_type: KeyType
    # The issuing CA's key in AWS KMS (no issuing-ca.key then): the key id KMS answered
    # with at ``ca init``, and where to reach it (None: the AWS default chain).
    issuing_kms_key_id: str | None = None
    kms_region: str | None = None
    kms_endpoint_url: str | None = None

    def __post_init__(self) -> None:
        if self.issuing_kms_key_id is None and (self.kms_region or self.kms_endpoint_url):
            raise ValueError("a KMS region or endpoint URL needs the KMS key they locate")

    def to_json(self) -> str:
        data: dict[str, str] = {"base_url": self.base_url, "key_type": self.key_type.value}
        # Written only when set: a file-key CA's ca.json stays as it always was.
        optional = {
            "issuing_kms_key_id": self.issuing_kms_key_id,
            "kms_region": self.kms_region,
            "kms_endpoint_url": self.kms_endpoint_url,
        }
        data.update({name: value for name, value in optional.items() if value is not None})
        return json.dumps(data, indent=2)

    def ocsp_url(self) -> str:
        return f"{self.base_url}/ocsp"

    def crl_url(self, ca_name: str) -> str:
        return f"{self.base_url}/crl/{ca_name}.crl"

    def ca_cert_url(self, ca_name: str) -> str:
        return f"{self.base_url}/ca/{ca_name}.crt"
