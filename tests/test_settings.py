"""The one settings model of ``HOME/certsight.toml`` and the environment: every table
refuses unknown keys and wrong types with a message naming the file, the table and the
key; secrets come from the environment, never from the file or into a message; and the
dashboards receive their tables intact through the child process's environment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from certsight import settings as certsight_settings
from certsight.dashboarding import prepare, remove_secrets
from certsight.settings import CertsightSettings, Environment, Home, SettingsError
from dashboards import settings as dashboard_settings
from dashboards.settings import (
    SETTINGS_ENV,
    DashboardSettings,
    DashboardSettingsError,
    current_settings,
    home_root,
)
from warehouse.destinations.folder import FolderSettings
from warehouse.destinations.s3 import S3Settings

OIDC = {
    "server_metadata_url": "https://idp.example/.well-known/openid-configuration",
    "client_id": "certsight",
    "redirect_uri": "https://certsight.example/oauth2callback",
}
SIGNED_IN = {"dashboard": {"oidc": OIDC, "audiences": {"cyber": ["soc"]}}}


def refusal(document: dict[str, Any]) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        CertsightSettings.parse(document)
    return caught.value


# -- the file and its tables -------------------------------------------------------------


def test_no_file_means_the_defaults(tmp_path: Path) -> None:
    settings = CertsightSettings.load(Home(tmp_path))
    assert settings.alerts.sinks == {}
    assert settings.reports.destination == FolderSettings(destination="reports")
    assert settings.dashboard.oidc is None
    assert settings.privacy.pseudonymise_exports and settings.privacy.pseudonymise_management


def test_a_file_with_every_table_is_read_once_into_each_packages_model(tmp_path: Path) -> None:
    (tmp_path / "certsight.toml").write_text(
        """
[alerts]
jsonl = "alerts.jsonl"

[reports]
destination = "s3://corp-reports/certsight/"

[dashboard.oidc]
server_metadata_url = "https://idp.example/.well-known/openid-configuration"
client_id = "certsight"
redirect_uri = "https://certsight.example/oauth2callback"

[dashboard.audiences]
cyber = ["soc", "cert-team"]

[privacy]
pseudonymise_exports = false
"""
    )
    settings = CertsightSettings.load(Home(tmp_path))
    assert list(settings.alerts.sinks) == ["jsonl"]
    assert settings.reports.destination == S3Settings(destination="s3://corp-reports/certsight")
    assert settings.dashboard.audiences == {"cyber": ("soc", "cert-team")}
    assert settings.privacy.pseudonymise_exports is False


def test_invalid_toml_and_unreadable_files_name_the_file(tmp_path: Path) -> None:
    source = tmp_path / "certsight.toml"
    source.write_text("[alerts]\nwebhook_url = \n")
    with pytest.raises(SettingsError, match="not valid TOML") as caught:
        CertsightSettings.load(Home(tmp_path))
    assert caught.value.key is None
    assert str(caught.value).startswith(f"{source}: ")
    source.unlink()
    source.mkdir()  # a folder where the file should be
    with pytest.raises(SettingsError, match="cannot read"):
        CertsightSettings.load(Home(tmp_path))


@pytest.mark.parametrize(
    ("document", "key", "known"),
    [
        ({"alert": {"jsonl": "a.jsonl"}}, "alert", "known tables: [acme], [alerts], [dashboard]"),
        ({"alerts": {"webhook_urll": "https://x/"}}, "alerts.webhook_urll", "webhook_url"),
        ({"reports": {"folder": "x"}}, "reports.folder", "known keys: destination"),
        ({"dashboard": {"audience": {}}}, "dashboard.audience", "known keys: audiences, oidc"),
        ({"dashboard": {"oidc": {**OIDC, "scopes": "x"}}}, "dashboard.oidc.scopes", "scope"),
        ({"privacy": {"pseudonymize_exports": False}}, "privacy.pseudonymize_exports", "key_env"),
    ],
)
def test_unknown_keys_are_refused_in_every_table(
    document: dict[str, Any], key: str, known: str
) -> None:
    error = refusal(document)
    assert error.key == key
    assert str(error).startswith(f"certsight.toml: {key}: unknown ")
    assert known in str(error)


@pytest.mark.parametrize(
    ("document", "key", "problem"),
    [
        ({"alerts": "oops"}, "alerts", "must be a table"),
        ({"alerts": {"min_severity": "urgent"}}, "alerts.min_severity", "'urgent' is not one of"),
        ({"alerts": {"jsonl": ""}}, "alerts.jsonl", "non-empty string"),
        ({"alerts": {"jsonl": 3}}, "alerts.jsonl", "must be a non-empty string, not 3"),
        ({"alerts": {"jsonl_min_severity": "high"}}, "alerts.jsonl_min_severity", "without jsonl"),
        ({"alerts": {"webhook_retries": 3}}, "alerts.webhook_retries", "without webhook_url"),
        ({"alerts": {"webhook_url": "ftp://x/y"}}, "alerts.webhook_url", "http:// or https://"),
        ({"alerts": {"webhook_url": "https:///nohost"}}, "alerts.webhook_url", "has no host"),
        ({"alerts": {"webhook_url": "https://x:99999/"}}, "alerts.webhook_url", "not a valid URL"),
        (
            {"alerts": {"webhook_url": "https://x/", "webhook_retries": True}},
            "alerts.webhook_retries",
            "must be an integer, not true",
        ),
        (
            {"alerts": {"webhook_url": "https://x/", "webhook_retries": -1}},
            "alerts.webhook_retries",
            "must be between 0 and 20, not -1",
        ),
        (
            {"alerts": {"webhook_url": "https://x/", "webhook_timeout": 0}},
            "alerts.webhook_timeout",
            "must be > 0, not 0",
        ),
        (
            {"alerts": {"webhook_url": "https://x/", "webhook_timeout": "5s"}},
            "alerts.webhook_timeout",
            "must be a number, not a string",
        ),
        (
            {"alerts": {"webhook_url": "https://x/", "webhook_backoff": float("inf")}},
            "alerts.webhook_backoff",
            "finite number",
        ),
        (
            {"alerts": {"webhook_url": "https://x/", "webhook_batch_size": 0}},
            "alerts.webhook_batch_size",
            "between 1 and 10000",
        ),
        (
            {
                "alerts": {
                    "webhook_url": "https://x/",
                    "webhook_backoff": 2,
                    "webhook_backoff_max": 1,
                }
            },
            "alerts.webhook_backoff_max",
            ">= webhook_backoff",
        ),
        (
            {"alerts": {"webhook_url": "http://siem.example/h", "webhook_token_env": "TOKEN"}},
            "alerts.webhook_url",
            "must be https://",
        ),
        (
            {"alerts": {"sns_topic_arn": "arn:aws:sqs:us-east-1:1:q"}},
            "alerts.sns_topic_arn",
            "not an SNS topic ARN",
        ),
        ({"alerts": {"sns_min_severity": "low"}}, "alerts.sns_min_severity", "without sns_topic"),
        ({"reports": {"destination": ""}}, "reports.destination", "must be a folder or a URI"),
        ({"reports": {"destination": "ftp://x"}}, "reports.destination", "only folders and s3://"),
        ({"reports": {"destination": "s3:///x"}}, "reports.destination", "name a bucket"),
        ({"dashboard": []}, "dashboard", "must be a table, not a list"),
        ({"dashboard": {"audiences": {"pki": "x"}}}, "dashboard.audiences.pki", "list of groups"),
        ({"privacy": {"key_env": 7}}, "privacy.key_env", "must be a non-empty string, not 7"),
        ({"privacy": {"pseudonymise_management": 1}}, "privacy.pseudonymise_management", "true"),
    ],
)
def test_wrong_values_are_refused_naming_the_key(
    document: dict[str, Any], key: str, problem: str
) -> None:
    error = refusal(document)
    assert error.key == key
    assert str(error).startswith(f"certsight.toml: {key}: ")
    assert problem in str(error)


def test_every_problem_is_listed_with_its_own_key() -> None:
    error = refusal({"dashboard": {"oidc": {"client_id": "x"}}, "privacy": {"key_env": ""}})
    keys = [key for key, _ in error.problems]
    assert keys == [
        "dashboard.oidc.server_metadata_url",
        "dashboard.oidc.redirect_uri",
        "privacy.key_env",
    ]
    assert str(error).count("certsight.toml: ") == 3


@pytest.mark.parametrize(
    "alerts",
    [
        {"webhook_url": "ftp://siem.example/h?sig=hush-hush-42"},
        {"webhook_url": "https://admin:hush-hush-42@siem.example/h"},
        {"webhook_url": "https://x/", "webhook_token_env": "hush-hush-42"},
        {"webhook_url": "https://x/", "webhook_token": "hush-hush-42"},
        {"webhook_url": "https://x/", "webhook_timeout": "hush-hush-42"},
    ],
)
def test_errors_do_not_repeat_secrets(alerts: dict[str, str]) -> None:
    error = refusal({"alerts": alerts})
    assert "hush-hush-42" not in str(error)
    assert error.key is not None
    assert error.__cause__ is None and error.__suppress_context__  # pydantic's text stays out


def test_secrets_in_the_file_are_refused_with_a_hint() -> None:
    error = refusal({"dashboard": {"oidc": {**OIDC, "client_secret": "x"}}})
    assert "secrets never go in certsight.toml" in str(error)
    assert "client_secret_env" in str(error)


# -- the environment ----------------------------------------------------------------------


def test_secrets_are_read_from_the_environment_when_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = CertsightSettings.parse({}, environ={"HOOK_TOKEN": " tok ", "BLANK": " "})
    assert given.environment.secret("HOOK_TOKEN") == "tok"
    assert given.environment.secret("BLANK") is None
    assert given.environment.secret("UNSET") is None

    live = CertsightSettings.load(Home(tmp_path))  # the process environment, as it is
    context = live.destination_context(Home(tmp_path))
    monkeypatch.setenv("CERTSIGHT_TEST_ROTATED", "first")
    assert context.secret("CERTSIGHT_TEST_ROTATED") == "first"
    monkeypatch.setenv("CERTSIGHT_TEST_ROTATED", "second")  # rotated after loading
    assert context.secret("CERTSIGHT_TEST_ROTATED") == "second"
    assert context.home == tmp_path


def test_environment_locations_and_limits() -> None:
    assert Environment({"CERTSIGHT_DUCKDB_MEMORY_LIMIT": "2GB"}).duckdb_memory_limit == "2GB"
    assert Environment({}).duckdb_memory_limit is None
    assert certsight_settings.HOME_ENV is dashboard_settings.HOME_ENV  # one definition


# -- the dashboards' channel --------------------------------------------------------------


def test_dashboard_settings_round_trip_through_the_child_environment(tmp_path: Path) -> None:
    environ = {
        "CERTSIGHT_OIDC_CLIENT_SECRET": "client-s3cret",
        "CERTSIGHT_DASHBOARD_COOKIE_SECRET": "cookie-s3cret-" + "x" * 32,
        "PATH": "/usr/bin",
    }
    document = {**SIGNED_IN, "privacy": {"pseudonymise_exports": False, "key_env": "MY_KEY"}}
    settings = CertsightSettings.parse(document, environ=environ)
    home = Home(tmp_path)
    launch = prepare(home, "127.0.0.1", 8599, no_auth=False, settings=settings)
    try:
        received = current_settings(launch.env)
        assert received == settings.dashboards()
        assert received.oidc is not None and received.oidc.client_id == "certsight"
        assert received.audiences == {"cyber": ("soc",)}
        assert received.privacy.key_env == "MY_KEY"
        assert home_root(launch.env) == tmp_path
        channel = launch.env[SETTINGS_ENV]
        assert "s3cret" not in channel  # names of variables travel, never their values
        assert json.loads(channel)["oidc"]["client_secret_env"] == "CERTSIGHT_OIDC_CLIENT_SECRET"
        assert "--secrets.files" not in launch.argv  # the child reads its own environment
        assert not any("s3cret" in arg for arg in launch.argv)
        assert launch.env["PATH"] == "/usr/bin"
    finally:
        remove_secrets(home)


def test_the_app_without_a_channel_runs_on_the_defaults_and_refuses_a_broken_one() -> None:
    assert current_settings({}) == DashboardSettings()
    assert home_root({}) == Path("data").absolute()
    with pytest.raises(DashboardSettingsError, match="certsight dashboard"):
        current_settings({SETTINGS_ENV: "{not json"})
    with pytest.raises(DashboardSettingsError, match="oidc"):
        current_settings({SETTINGS_ENV: json.dumps({"oidc": {"client_id": "x"}})})


@pytest.mark.parametrize(
    ("modules", "forbidden"),
    [
        ("dashboards.settings, dashboards.access, dashboards.privacy", ("certsight", "warehouse")),
        ("warehouse.destinations, warehouse.delivery", ("certsight", "dashboards")),
    ],
)
def test_the_settings_models_keep_the_import_arrows(
    modules: str, forbidden: tuple[str, ...]
) -> None:
    """The Streamlit child starts without certsight; the destinations receive their
    settings rather than reaching up for them."""
    probe = (
        f"import sys, {modules}; "
        f"print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
