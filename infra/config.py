"""What a deployment is told: read once from the CDK context, checked, then passed down.

Every stack takes the same ``DeployConfig`` so that names, the DNS domain and the
retention periods agree across stacks that deploy independently (they meet through
names and SSM parameters, never through CloudFormation exports, so one module's
pipeline can deploy without touching another's stack).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dashboards.settings import PrivacySettings

_ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
_DOMAIN = re.compile(r"^(?=.{1,200}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[0-9a-f-]+$")


class ConfigError(ValueError):
    """A deployment setting that cannot be right; says which and why."""


@dataclass(frozen=True)
class Retention:
    """How long each bucket keeps objects, from ``[privacy]`` of certsight.toml."""

    raw_days: int = 30
    client_address_days: int = 90
    lake_days: int | None = None  # None: for ever


@dataclass(frozen=True)
class DeployConfig:
    """One environment of certsight in one AWS account and region."""

    env_name: str = "prod"
    account: str | None = None  # None: the CLI's credentials decide (cdk deploy)
    region: str | None = None
    # The one DNS domain of every client-facing service (a Route 53 hosted zone).
    domain: str = "pki.example.com"
    hosted_zone_id: str | None = None  # None: no DNS records are made (names in docs only)
    # Certificates for the custom names: CloudFront's must be in us-east-1; the
    # regional one serves the issuance API's custom domain in the stacks' region.
    cdn_certificate_arn: str | None = None
    regional_certificate_arn: str | None = None
    # Where `make package` put the Lambda zips (validation.zip, issuance.zip, ...).
    dist: Path = Path("dist")
    # The repository whose workflows (GitHub OIDC) may assume the deploy roles.
    github_repository: str = "example/certsight"
    alarm_email: str | None = None
    retention: Retention = field(default_factory=Retention)
    # The warehouse job's container image tag in its ECR repository (pushed by the
    # analytics pipeline before it deploys).
    warehouse_image_tag: str = "latest"
    # AWS Private CA authorities that issuance profiles use (the API may issue from
    # these only), and roles allowed to sign with the CA key besides the functions (a
    # CA ceremony: `certsight ca init --issuing-kms-key`, then removed).
    private_ca_arns: tuple[str, ...] = ()
    ca_ceremony_role_arns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _ENV_NAME.match(self.env_name):
            raise ConfigError(
                f"env_name {self.env_name!r}: 1-16 of a-z, 0-9 and '-', starting with a letter"
            )
        if not _DOMAIN.match(self.domain):
            raise ConfigError(f"domain {self.domain!r} is not a lowercase DNS name")
        if self.account is not None and not _ACCOUNT.match(self.account):
            raise ConfigError(f"account {self.account!r} is not a 12-digit AWS account id")
        if not _REPOSITORY.match(self.github_repository):
            raise ConfigError(f"github_repository {self.github_repository!r}: use OWNER/NAME")
        if self.cdn_certificate_arn is not None:
            found = _ACM_ARN.match(self.cdn_certificate_arn)
            if not found or found.group(1) != "us-east-1":
                raise ConfigError(
                    "cdn_certificate_arn must be an ACM certificate in us-east-1 "
                    "(CloudFront only takes certificates from there)"
                )
        if self.regional_certificate_arn is not None and not _ACM_ARN.match(
            self.regional_certificate_arn
        ):
            raise ConfigError(
                f"regional_certificate_arn {self.regional_certificate_arn!r} is not an ACM ARN"
            )

    def pki_bundle(self, unit: str) -> Path:
        """The folder a pipeline fills with a unit's PKI material before it deploys
        (``DIST/validation-pki``...): certificates, and for validation the delegated
        OCSP signer; never a CA key (each stack checks what it ships)."""
        return self.dist / f"{unit}-pki"

    def hostname(self, service: str) -> str:
        """The client-facing name of a service in the one domain (see SERVICE_HOSTS)."""
        return f"{SERVICE_HOSTS[service]}.{self.domain}"

    @property
    def custom_names(self) -> bool:
        """Whether the CDN distributions carry the domain's names (needs a certificate)."""
        return self.cdn_certificate_arn is not None


# One domain, one name per client-facing service: the validation CDN (OCSP, CRLs, CA
# certificates: the AIA and CRL URLs of every certificate point here), the publishing
# CDN (trust stores, agent releases, the TUF repository) and the issuance API.
SERVICE_HOSTS: Mapping[str, str] = {"validation": "ocsp", "publishing": "repo", "issuance": "api"}

_KEYS = {
    "env": "env_name",
    "account": "account",
    "region": "region",
    "domain": "domain",
    "hosted_zone_id": "hosted_zone_id",
    "cdn_certificate_arn": "cdn_certificate_arn",
    "regional_certificate_arn": "regional_certificate_arn",
    "dist": "dist",
    "github_repository": "github_repository",
    "alarm_email": "alarm_email",
    "warehouse_image_tag": "warehouse_image_tag",
    "private_ca_arns": "private_ca_arns",
    "ca_ceremony_role_arns": "ca_ceremony_role_arns",
}
_LISTS = frozenset({"private_ca_arns", "ca_ceremony_role_arns"})


# Every key the CDK context may carry for certsight (cdk.json and `-c key=value`).
CONTEXT_KEYS: tuple[str, ...] = (*_KEYS, "settings")


def retention_from_settings(settings_file: Path | None) -> Retention:
    """``[privacy]`` of a certsight.toml (the defaults without one): the same numbers the
    local ``certsight lake retain`` applies become the buckets' lifecycle rules."""
    data: dict[str, Any] = {}
    if settings_file is not None:
        try:
            data = tomllib.loads(settings_file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {settings_file}: {exc}") from exc
    try:
        privacy = PrivacySettings.model_validate(data.get("privacy", {}))
    except ValidationError as exc:
        raise ConfigError(f"{settings_file} [privacy]: {exc}") from exc
    return Retention(
        raw_days=privacy.raw_days,
        client_address_days=privacy.client_address_days,
        lake_days=privacy.lake_days,
    )


def config_from_context(context: Mapping[str, Any], base: Path = Path(".")) -> DeployConfig:
    """The CDK context (``cdk.json`` and ``-c key=value``) as a checked DeployConfig.

    Unknown keys are refused: a misspelt ``hosted_zone`` would otherwise deploy without
    DNS records and nobody would notice until clients failed."""
    # The CDK's own feature flags (``@aws-cdk/...``) and lookup caches (``key:account=..``)
    # are not ours.
    ours = {
        key: value for key, value in context.items() if not key.startswith("@") and ":" not in key
    }
    ours.pop("settings", None)
    unknown = sorted(set(ours) - set(_KEYS))
    if unknown:
        raise ConfigError(f"unknown deployment setting(s) {unknown}: known are {sorted(_KEYS)}")
    values: dict[str, Any] = {}
    for key, attribute in _KEYS.items():
        value = ours.get(key)
        if value in (None, ""):
            continue
        if attribute == "dist":
            values[attribute] = base / str(value)
        elif attribute in _LISTS:  # `-c private_ca_arns=ARN1,ARN2` or a JSON list
            items = value if isinstance(value, list) else str(value).split(",")
            values[attribute] = tuple(str(item).strip() for item in items if str(item).strip())
        else:
            values[attribute] = str(value)
    settings = context.get("settings")
    retention = retention_from_settings(base / str(settings) if settings else None)
    return DeployConfig(**values, retention=retention)
