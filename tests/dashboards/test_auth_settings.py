"""The sign-in settings are checked before Streamlit starts: an address the browser is
sent back to must be https unless it is on loopback, the cookie secret must be long
enough to sign cookies, and serving beyond loopback without sign-in is said loudly.

The command-line tests run the real ``certsight dashboard`` (click's runner, the process
environment as given): a refused setting stops it with exit 1 (the CLI's convention for
settings a user can fix, ``certsight/commands/common.py``) before anything listens.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from certsight.cli import main
from certsight.dashboarding import (
    LEGACY_SECRETS_FILE,
    DashboardConfigError,
    check_sign_in,
    exposure_warning,
    prepare,
)
from certsight.settings import CertsightSettings, Home, SettingsError
from dashboards.access import MIN_COOKIE_SECRET_BYTES, streamlit_auth_secrets
from dashboards.serve import sign_in_secrets

CLIENT_SECRET = "client-secret-for-the-settings-tests"
COOKIE_SECRET = "c" * MIN_COOKIE_SECRET_BYTES
SECRETS = {
    "CERTSIGHT_OIDC_CLIENT_SECRET": CLIENT_SECRET,
    "CERTSIGHT_DASHBOARD_COOKIE_SECRET": COOKIE_SECRET,
}
OIDC = {
    "server_metadata_url": "https://idp.corp.example/.well-known/openid-configuration",
    "client_id": "certsight",
    "redirect_uri": "https://certsight.corp.example/oauth2callback",
}
TEST_NET = "192.0.2.1"  # RFC 5737: no machine has it, so nothing can listen there


def signed_in(environ: dict[str, str] | None = None, **oidc: str) -> CertsightSettings:
    document = {"dashboard": {"oidc": {**OIDC, **oidc}, "audiences": {"pki": ["pki-team"]}}}
    return CertsightSettings.parse(document, environ=SECRETS if environ is None else environ)


def write_settings(home: Path, **oidc: str) -> None:
    lines = ["[dashboard.oidc]"]
    lines += [f'{key} = "{value}"' for key, value in {**OIDC, **oidc}.items()]
    lines += ["[dashboard.audiences]", 'pki = ["pki-team"]']
    home.mkdir(parents=True, exist_ok=True)
    (home / "certsight.toml").write_text("\n".join(lines) + "\n")


def dashboard(home: Path, *options: str, environ: dict[str, str] | None = None) -> Result:
    given = SECRETS if environ is None else environ
    return CliRunner().invoke(main, ["dashboard", "--home", str(home), *options], env=given)


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def taken_port() -> Iterator[str]:
    """A loopback port something already listens on: a command that got past the
    settings would stop at it ("cannot listen") instead of starting Streamlit."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield str(sock.getsockname()[1])


# -- where the browser is sent back to ----------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://certsight.corp.example/oauth2callback",
        "http://10.1.2.3:8501/oauth2callback",
        "ftp://certsight.corp.example/oauth2callback",
        "certsight.corp.example/oauth2callback",
    ],
)
def test_a_redirect_uri_off_loopback_must_be_https(redirect_uri: str) -> None:
    with pytest.raises(SettingsError) as caught:
        signed_in(redirect_uri=redirect_uri)
    assert caught.value.key == "dashboard.oidc.redirect_uri"
    assert "must be an https:// URL (http:// only on loopback" in str(caught.value)


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://certsight.corp.example/oauth2callback",
        "https://certsight.corp.example:8443/dashboards/oauth2callback",
        "http://127.0.0.1:8501/oauth2callback",
        "http://localhost:8501/oauth2callback",
        "http://[::1]:8501/oauth2callback",
    ],
)
def test_https_or_loopback_redirect_uris_are_accepted(redirect_uri: str) -> None:
    settings = signed_in(redirect_uri=redirect_uri)
    assert settings.dashboard.oidc is not None
    assert settings.dashboard.oidc.redirect_uri == redirect_uri


def test_the_redirect_uri_must_be_streamlits_callback() -> None:
    with pytest.raises(SettingsError) as caught:
        signed_in(redirect_uri="https://certsight.corp.example/callback")
    assert caught.value.key == "dashboard.oidc.redirect_uri"
    assert "must end in /oauth2callback" in str(caught.value)


def test_the_provider_may_be_on_loopback_over_http_only() -> None:
    local = signed_in(server_metadata_url="http://127.0.0.1:9400/.well-known/openid-configuration")
    assert local.dashboard.oidc is not None
    with pytest.raises(SettingsError) as caught:
        signed_in(server_metadata_url="http://idp.corp.example/.well-known/openid-configuration")
    assert caught.value.key == "dashboard.oidc.server_metadata_url"
    assert "https://" in str(caught.value)


def test_the_command_refuses_a_plain_http_redirect_uri(tmp_path: Path, taken_port: str) -> None:
    write_settings(tmp_path, redirect_uri="http://certsight.corp.example/oauth2callback")
    result = dashboard(tmp_path, "--port", taken_port)
    assert result.exit_code == 1, result.output
    assert "dashboard.oidc.redirect_uri: must be an https:// URL" in one_line(result.output)
    assert "dashboards on" not in result.output  # stopped before Streamlit


def test_a_loopback_redirect_uri_cannot_serve_other_machines() -> None:
    settings = signed_in(redirect_uri="http://127.0.0.1:8501/oauth2callback")
    check_sign_in("127.0.0.1", settings)
    with pytest.raises(DashboardConfigError, match="sent back to their own machine"):
        check_sign_in("0.0.0.0", settings)


# -- the cookie secret --------------------------------------------------------------------


def test_a_short_cookie_secret_is_refused_without_showing_it() -> None:
    short = "s3cret-but-short"
    settings = signed_in({**SECRETS, "CERTSIGHT_DASHBOARD_COOKIE_SECRET": short})
    with pytest.raises(DashboardConfigError) as caught:
        check_sign_in("127.0.0.1", settings)
    message = str(caught.value)
    assert "CERTSIGHT_DASHBOARD_COOKIE_SECRET holds 16 bytes" in message
    assert f"at least {MIN_COOKIE_SECRET_BYTES}" in message
    assert short not in message and CLIENT_SECRET not in message


def test_the_cookie_secret_is_counted_in_bytes() -> None:
    settings = signed_in().dashboard.oidc
    assert settings is not None
    with pytest.raises(ValueError, match="holds 30 bytes"):
        streamlit_auth_secrets(settings, {**SECRETS, "CERTSIGHT_DASHBOARD_COOKIE_SECRET": "é" * 15})
    enough = {**SECRETS, "CERTSIGHT_DASHBOARD_COOKIE_SECRET": "é" * 16}
    assert streamlit_auth_secrets(settings, enough)["cookie_secret"] == "é" * 16


def test_the_command_refuses_a_short_cookie_secret(tmp_path: Path, taken_port: str) -> None:
    write_settings(tmp_path)
    short = {**SECRETS, "CERTSIGHT_DASHBOARD_COOKIE_SECRET": "x" * 31}
    result = dashboard(tmp_path, "--port", taken_port, environ=short)
    assert result.exit_code == 1, result.output
    assert "CERTSIGHT_DASHBOARD_COOKIE_SECRET holds 31 bytes" in one_line(result.output)
    assert "x" * 31 not in result.output


def test_the_auth_table_streamlit_receives() -> None:
    oidc = signed_in(scope="openid profile email groups").dashboard.oidc
    assert oidc is not None
    assert streamlit_auth_secrets(oidc, SECRETS) == {
        "redirect_uri": OIDC["redirect_uri"],
        "cookie_secret": COOKIE_SECRET,
        "client_id": "certsight",
        "client_secret": CLIENT_SECRET,
        "server_metadata_url": OIDC["server_metadata_url"],
        "client_kwargs": {"scope": "openid profile email groups"},
    }


# -- no sign-in beyond loopback -----------------------------------------------------------


def test_no_auth_beyond_loopback_is_a_loud_warning() -> None:
    none = CertsightSettings.parse({}).dashboard
    warning = exposure_warning("0.0.0.0", 8501, none, no_auth=True)
    assert warning is not None
    lines = warning.splitlines()
    assert len(lines) >= 3 and all(line.startswith("WARNING") for line in lines)
    text = one_line(warning)
    assert "0.0.0.0:8501 WITHOUT SIGN-IN" in text
    assert "every audience's pages (PKI, cyber defence, management)" in text
    assert "raw client IP addresses" in text
    assert "Anyone who can reach that port" in text
    for quiet in ("127.0.0.1", "::1", "localhost"):
        assert exposure_warning(quiet, 8501, none, no_auth=True) is None
    assert exposure_warning("0.0.0.0", 8501, signed_in().dashboard, no_auth=True) is None


def test_the_command_prints_the_warning_on_stderr(tmp_path: Path) -> None:
    result = dashboard(tmp_path, "--host", TEST_NET, "--port", "8599", "--no-auth", environ={})
    assert result.exit_code == 1  # nothing can listen on TEST-NET: it stops after warning
    warning = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warning) >= 3, result.stderr
    assert f"{TEST_NET}:8599 WITHOUT SIGN-IN" in one_line(result.stderr)
    assert "raw client IP addresses" in one_line(result.stderr)
    assert re.search(r"cannot listen on 192\.0\.2\.1:8599", result.output)
    assert "WARNING" not in result.stdout


# -- no secrets file ----------------------------------------------------------------------


def test_the_secrets_never_reach_a_file_or_the_command_line(tmp_path: Path) -> None:
    home = Home(tmp_path)
    legacy = tmp_path / LEGACY_SECRETS_FILE  # what an earlier version left after a SIGKILL
    legacy.parent.mkdir(parents=True)
    legacy.write_text(f'[auth]\nclient_secret = "{CLIENT_SECRET}"\n')
    launch = prepare(home, "127.0.0.1", 8599, no_auth=False, settings=signed_in())
    assert not legacy.exists()
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []
    assert "--secrets.files" not in launch.argv
    assert not any(CLIENT_SECRET in arg or COOKIE_SECRET in arg for arg in launch.argv)
    assert launch.argv[1:4] == ["-m", "dashboards.serve", "run"]
    assert launch.signed_in


def test_the_streamlit_process_builds_its_auth_table_from_its_own_environment() -> None:
    settings = signed_in()
    assert settings.dashboard.oidc is not None
    child = {**settings.dashboards().environment(), **SECRETS}  # what the child inherits
    assert sign_in_secrets(child) == {
        "auth": streamlit_auth_secrets(settings.dashboard.oidc, SECRETS)
    }
    assert sign_in_secrets({}) is None  # no settings handed over: no sign-in
    with pytest.raises(ValueError, match="CERTSIGHT_DASHBOARD_COOKIE_SECRET holds 5 bytes"):
        sign_in_secrets({**child, "CERTSIGHT_DASHBOARD_COOKIE_SECRET": "short"})
