"""Name patterns as operators write them, and the [issuance] table as certsight.toml
holds it: what is accepted, and how a mistake is named."""

from __future__ import annotations

import pytest

from certsight.settings import CertsightSettings, SettingsError
from issuance.backends.settings import InternalBackendSettings
from issuance.patterns import PatternError, normalise_name, parse_pattern


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("host.corp.example", "host.corp.example", True),
        ("host.corp.example", "x.host.corp.example", False),
        ("*.corp.example", "a.corp.example", True),
        ("*.corp.example", "*.corp.example", True),
        ("*.corp.example", "a.b.corp.example", False),
        ("*.corp.example", "corp.example", False),
        ("*.corp.example", "a.xcorp.example", False),
        ("**.corp.example", "a.b.corp.example", True),
        ("**.corp.example", "*.b.corp.example", True),
        ("**.corp.example", "corp.example", False),
        ("10.1.0.0/16", "10.1.200.3", True),
        ("10.1.0.0/16", "10.2.0.1", False),
        ("10.1.0.0/16", "a.corp.example", False),
        ("2001:db8::/32", "2001:db8::1", True),
        ("2001:db8::/32", "10.1.0.1", False),
        ("10.0.0.7", "10.0.0.7", True),
        ("*.corp.example", "10.1.0.1", False),
    ],
)
def test_pattern_semantics(pattern: str, name: str, expected: bool) -> None:
    assert parse_pattern(pattern).matches(name) is expected


def test_domains_cover_a_zone_and_everything_below() -> None:
    zone = parse_pattern("corp.example")
    assert zone.covers_domain("corp.example") and zone.covers_domain("a.b.corp.example")
    assert not zone.covers_domain("xcorp.example")


def test_names_are_compared_in_one_form() -> None:
    assert normalise_name("WWW.Corp.Example.") == "www.corp.example"
    assert normalise_name("bücher.corp.example") == "xn--bcher-kva.corp.example"
    assert normalise_name("2001:DB8::0:1") == "2001:db8::1"


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("", "empty"),
        ("*.com", "top-level domain"),
        ("**.internal", "top-level domain"),
        ("a.*.corp.example", "first label"),
        ("10.1.0.1/16", "not an IP network"),
        ("exa mple.com", "not a DNS name"),
    ],
)
def test_bad_patterns_are_named(pattern: str, why: str) -> None:
    with pytest.raises(PatternError, match=why):
        parse_pattern(pattern)


def test_the_default_table_has_tls_server_on_the_home_ca() -> None:
    settings = CertsightSettings.parse({}).issuance
    profile = settings.all_profiles()["tls-server"]
    assert profile.validity_days == 30 and profile.ekus == ["serverAuth", "clientAuth"]
    assert profile.backends == ["internal"] and 0.66 < profile.renewal_fraction < 0.67
    assert settings.all_backends()["internal"].type == "internal"


@pytest.mark.parametrize(
    ("table", "key", "text"),
    [
        ({"profiles": {"p": {"backends": ["nope"]}}}, "issuance", "unknown backends nope"),
        (
            {"profiles": {"p": {"validity_days": 30, "max_validity_days": 10}}},
            "issuance.profiles.p",
            "within",
        ),
        (
            {"profiles": {"p": {"ekus": ["serverauth"]}}},
            "issuance.profiles.p.ekus",
            "unknown: serverauth",
        ),
        (
            {"profiles": {"p": {"min_rsa_bits": 1024}}},
            "issuance.profiles.p.min_rsa_bits",
            ">= 2048",
        ),
        ({"domains": ["*.com"]}, "issuance.domains", "top-level domain"),
        ({"rate_limit": "lots"}, "issuance.rate_limit", "not like"),
        ({"backends": {"x": {"type": "vault"}}}, "issuance.backends.x", ""),
        (
            {"backends": {"x": {"type": "aws-pca"}}},
            "issuance.backends.x.aws-pca.ca_arn",
            "required",
        ),
        (
            {"backends": {"x": {"type": "acme", "directory": "https://a", "eab_hmac_key": "s"}}},
            "issuance.backends.x.acme.eab_hmac_key",
            "secrets never go",
        ),
        (
            {
                "principals": {
                    "r": {
                        "arn": "arn:aws:iam::1:role/r",
                        "allow": ["a.corp.example"],
                        "profiles": ["gold"],
                    }
                }
            },
            "issuance",
            "unknown profiles gold",
        ),
    ],
)
def test_mistakes_in_the_table_name_their_key(
    table: dict[str, object], key: str, text: str
) -> None:
    with pytest.raises(SettingsError) as excinfo:
        CertsightSettings.parse({"issuance": table})
    assert excinfo.value.key is not None and excinfo.value.key.startswith(key)
    assert text in str(excinfo.value)
    assert 's"' not in str(excinfo.value)


def test_paths_in_backend_tables_are_read_from_strings() -> None:
    settings = CertsightSettings.parse(
        {"issuance": {"backends": {"other": {"type": "internal", "key": "/etc/ca/key.pem"}}}}
    ).issuance
    backend = settings.all_backends()["other"]
    assert isinstance(backend, InternalBackendSettings)
    assert str(backend.key) == "/etc/ca/key.pem"
