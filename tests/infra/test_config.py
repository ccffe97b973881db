"""The deployment settings: what cdk.json and `-c` may say, checked before any stack is
built, and the retention periods taken from certsight.toml's [privacy]."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.config import ConfigError, DeployConfig, config_from_context
from tests.infra.conftest import ACCOUNT


def test_defaults_name_every_service_in_one_domain() -> None:
    config = config_from_context({})
    assert config.env_name == "prod" and config.domain == "pki.example.com"
    assert {config.hostname(s) for s in ("validation", "publishing", "issuance")} == {
        "ocsp.pki.example.com",
        "repo.pki.example.com",
        "api.pki.example.com",
    }
    assert not config.custom_names


def test_context_values_reach_the_config_and_dist_is_relative_to_the_base(
    tmp_path: Path,
) -> None:
    config = config_from_context(
        {
            "env": "staging",
            "domain": "pki.corp.example",
            "account": ACCOUNT,
            "region": "eu-central-1",
            "dist": "build/zips",
            "@aws-cdk/core:newStyleStackSynthesis": True,  # the CDK's own flags pass
            "aws:cdk:enable-path-metadata": True,
        },
        base=tmp_path,
    )
    assert config.env_name == "staging"
    assert config.hostname("validation") == "ocsp.pki.corp.example"
    assert config.dist == tmp_path / "build" / "zips"
    assert config.account == ACCOUNT and config.region == "eu-central-1"


def test_lists_come_as_commas_or_json_lists() -> None:
    arn = f"arn:aws:acm-pca:eu-west-1:{ACCOUNT}:certificate-authority/0a1b"
    role = f"arn:aws:iam::{ACCOUNT}:role/ca-ceremony"
    config = config_from_context({"private_ca_arns": f"{arn}, ", "ca_ceremony_role_arns": [role]})
    assert config.private_ca_arns == (arn,) and config.ca_ceremony_role_arns == (role,)
    assert config_from_context({}).private_ca_arns == ()


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"hosted_zone": "Z1"}, "unknown deployment setting(s) ['hosted_zone']"),
        ({"env": "Prod"}, "env_name 'Prod'"),
        ({"env": "a-very-long-environment-name"}, "env_name"),
        ({"domain": "PKI.Example.com"}, "not a lowercase DNS name"),
        ({"domain": "localhost"}, "not a lowercase DNS name"),
        ({"account": "12345"}, "12-digit AWS account id"),
        ({"github_repository": "just-a-name"}, "OWNER/NAME"),
        (
            {
                "cdn_certificate_arn": (
                    f"arn:aws:acm:eu-west-1:{ACCOUNT}:certificate/0f0e0d0c-1111-2222-3333-4444"
                )
            },
            "in us-east-1",
        ),
        ({"regional_certificate_arn": "not-an-arn"}, "is not an ACM ARN"),
    ],
)
def test_a_setting_that_cannot_be_right_is_refused_with_its_name(
    context: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_context(context)
    assert message in str(caught.value)


def test_retention_follows_the_privacy_settings(tmp_path: Path) -> None:
    settings = tmp_path / "certsight.toml"
    settings.write_text(
        "[privacy]\nclient_address_days = 60\nraw_days = 14\nlake_days = 400\n",
        encoding="utf-8",
    )
    retention = config_from_context({"settings": "certsight.toml"}, base=tmp_path).retention
    assert (retention.raw_days, retention.client_address_days, retention.lake_days) == (
        14,
        60,
        400,
    )
    assert DeployConfig().retention.lake_days is None  # the LAKE keeps rows for ever


def test_settings_that_break_the_privacy_rules_are_refused(tmp_path: Path) -> None:
    """RAW holds addresses as logged: a bucket keeping them longer than the LAKE may keep
    addresses is refused here exactly as `certsight lake retain` would refuse it."""
    settings = tmp_path / "certsight.toml"
    settings.write_text("[privacy]\nclient_address_days = 30\nraw_days = 90\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="client_address_days"):
        config_from_context({"settings": "certsight.toml"}, base=tmp_path)
    with pytest.raises(ConfigError, match="cannot read"):
        config_from_context({"settings": "missing.toml"}, base=tmp_path)
