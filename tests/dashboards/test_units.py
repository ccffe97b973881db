"""The dashboards' pure parts: settings, who sees what, pseudonyms, the reliance graph,
the exposure check of `certsight dashboard`, and that user text never becomes SQL."""

from __future__ import annotations

import stat
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from certsight.cli import main
from certsight.dashboarding import DashboardConfigError, check_exposure, prepare
from certsight.settings import CertsightSettings, Home, SettingsError
from dashboards import queries
from dashboards.access import audiences_for, groups_of, streamlit_auth_secrets
from dashboards.graph import reliance_graph
from dashboards.privacy import load_key, pseudonym, pseudonymise, safe_csv
from dashboards.settings import DashboardSettings

OIDC = {
    "server_metadata_url": "https://idp.example/.well-known/openid-configuration",
    "client_id": "certsight",
    "redirect_uri": "https://certsight.example/oauth2callback",
}


def parse_settings(document: dict[str, object]) -> DashboardSettings:
    """What the app would run with, given this certsight.toml."""
    return CertsightSettings.parse(document).dashboards()


def test_settings_default_to_no_sign_in_and_pseudonyms() -> None:
    settings = parse_settings({})
    assert settings.oidc is None
    assert settings.privacy.pseudonymise_management and settings.privacy.pseudonymise_exports


@pytest.mark.parametrize(
    ("document", "key", "message"),
    [
        ({"dashboard": {"oidc": {**OIDC}}}, "dashboard", "maps no group"),
        (
            {"dashboard": {"oidc": {**OIDC, "server_metadata_url": "http://idp/x"}}},
            "dashboard.oidc.server_metadata_url",
            "https://",
        ),
        (
            {"dashboard": {"oidc": {"client_id": "x"}}},
            "dashboard.oidc.server_metadata_url",
            "is required",
        ),
        (
            {"dashboard": {"audiences": {"board": ["x"]}}},
            "dashboard.audiences.board",
            "not an audience",
        ),
        (
            {"dashboard": {"audiences": {"pki": "pki-team"}}},
            "dashboard.audiences.pki",
            "list of groups",
        ),
        (
            {"privacy": {"pseudonymise_exports": "yes"}},
            "privacy.pseudonymise_exports",
            "true or false",
        ),
        (
            {"privacy": {"pseudonymize_exports": False}},
            "privacy.pseudonymize_exports",
            "unknown key (did you mean pseudonymise_exports?)",
        ),
        (
            {"dashboard": {"oidc": {**OIDC, "secret": "x"}}},
            "dashboard.oidc.secret",
            "unknown key; secrets never go in certsight.toml",
        ),
    ],
)
def test_bad_settings_name_what_is_wrong(
    document: dict[str, object], key: str, message: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings(document)
    assert caught.value.key == key
    assert str(caught.value).startswith(f"certsight.toml: {key}: ")
    assert message in str(caught.value)


def test_groups_map_to_audiences() -> None:
    settings = parse_settings(
        {
            "dashboard": {
                "oidc": OIDC,
                "audiences": {"pki": ["pki-team"], "cyber": ["soc", "cert"], "management": ["cio"]},
            }
        }
    )
    assert audiences_for(["soc", "pki-team"], settings) == ("pki", "cyber")
    assert audiences_for(["nobody"], settings) == ()
    assert groups_of({"groups": ["a", "b"]}, "groups") == ("a", "b")
    assert groups_of({"roles": "a, b c"}, "roles") == ("a", "b", "c")
    assert groups_of({}, "groups") == ()


def test_streamlit_secrets_come_from_the_environment_never_the_file(tmp_path: Path) -> None:
    settings = parse_settings({"dashboard": {"oidc": OIDC, "audiences": {"pki": ["p"]}}})
    assert settings.oidc is not None
    with pytest.raises(ValueError, match="CERTSIGHT_OIDC_CLIENT_SECRET"):
        streamlit_auth_secrets(settings.oidc, {})
    env = {"CERTSIGHT_OIDC_CLIENT_SECRET": "s3cr3t", "CERTSIGHT_DASHBOARD_COOKIE_SECRET": "c" * 32}
    auth = streamlit_auth_secrets(settings.oidc, env)
    assert auth["client_secret"] == "s3cr3t" and auth["client_id"] == "certsight"


def test_exposure_rules() -> None:
    none = CertsightSettings.parse({}).dashboard
    check_exposure("127.0.0.1", none, no_auth=False)
    check_exposure("::1", none, no_auth=False)
    check_exposure("localhost", none, no_auth=False)
    with pytest.raises(DashboardConfigError, match="without sign-in"):
        check_exposure("0.0.0.0", none, no_auth=False)
    check_exposure("0.0.0.0", none, no_auth=True)
    signed = CertsightSettings.parse({"dashboard": {"oidc": OIDC, "audiences": {"pki": ["p"]}}})
    check_exposure("10.1.2.3", signed.dashboard, no_auth=False)


def test_dashboard_command_refuses_a_wide_address_without_sign_in(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["dashboard", "--home", str(tmp_path), "--host", "10.0.0.5"])
    assert result.exit_code == 1
    assert "refusing to serve" in result.output


def test_dashboard_command_line_is_offline_and_quiet(tmp_path: Path) -> None:
    launch = prepare(Home(tmp_path), "127.0.0.1", 8599, no_auth=False)
    argv = " ".join(launch.argv)
    assert "--browser.gatherUsageStats false" in argv
    assert "--server.address 127.0.0.1" in argv and "--server.port 8599" in argv
    assert "--secrets.files" not in argv  # no sign-in: no secrets
    assert launch.env["CERTSIGHT_HOME"] == str(tmp_path)
    assert not launch.signed_in


def test_pseudonyms_are_keyed_stable_and_private(tmp_path: Path) -> None:
    key = load_key(tmp_path, "NO_SUCH_ENV_VAR_FOR_TEST")
    assert load_key(tmp_path, "NO_SUCH_ENV_VAR_FOR_TEST") == key
    key_file = tmp_path / ".certsight" / "pseudonym.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert pseudonym("10.0.0.1", key) == pseudonym("10.0.0.1", key)
    assert pseudonym("10.0.0.1", key) != pseudonym("10.0.0.1", b"other key")
    assert pseudonym("10.0.0.1", key) != pseudonym("10.0.0.2", key)
    table = pd.DataFrame({"client_ip": ["10.0.0.1", None], "requests": [3, 4]})
    out = pseudonymise(table, key)
    assert out["client_ip"][0].startswith("client-") and "10.0.0.1" not in out.to_csv()
    assert pd.isna(out["client_ip"][1]) and list(out["requests"]) == [3, 4]
    assert table["client_ip"][0] == "10.0.0.1"  # the original is untouched
    # alert keys are md5 of detector, client and server: keyed as well
    keyed = pseudonymise(pd.DataFrame({"alert_key": ["abc"]}), key)
    assert keyed["alert_key"][0] == pseudonym("abc", key)


def test_exports_do_not_run_as_spreadsheet_formulas() -> None:
    table = pd.DataFrame(
        {"user_agent": ["=HYPERLINK(1)", "+1", "Java/17", None], "n": [-1, 2, 3, 4]}
    )
    text = safe_csv(table).decode()
    assert "'=HYPERLINK(1)" in text and "'+1" in text and "\nJava/17," in text
    assert "-1" in text and "'-1" not in text  # numbers stay numbers


def test_key_from_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "k")
    assert load_key(tmp_path, "MY_KEY") == b"k"
    assert not (tmp_path / ".certsight").exists()


def test_reliance_graph_is_bounded_and_escapes_names() -> None:
    clients = pd.DataFrame(
        {
            "client_ip": [f"10.0.0.{i}" for i in range(20)] + ['evil"zone\\'],
            "client_zone": ["workstations"] * 20 + ['dmz"'],
            "requests": list(range(21)),
        }
    )
    dot = reliance_graph("app.example", clients)
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert "+14 more" in dot  # 20 clients, 6 drawn
    assert '"dmz (1 clients)"' in dot and "evilzone" in dot
    assert dot.count("->") == 2 + 6 + 1 + 1  # zones, drawn clients, "more", dmz client


def test_user_text_never_becomes_sql(warehouse: duckdb.DuckDBPyConnection) -> None:
    hostile = "x' or 1=1; drop table alerts; --"
    assert queries.find_servers(warehouse, hostile) == []
    assert queries.find_clients(warehouse, hostile) == []
    assert queries.find_certificates(warehouse, hostile).empty
    assert queries.server_reliance(warehouse, hostile, _all(warehouse)).empty
    assert queries.alert_detail(warehouse, hostile).empty
    # What a link's ?server= / ?client= carries reaches these too.
    assert queries.server_profile(warehouse, hostile).empty
    assert queries.server_alerts(warehouse, hostile).empty
    assert queries.client_profile(warehouse, hostile).empty
    assert queries.client_reliance(warehouse, hostile, _all(warehouse)).empty
    assert queries.client_alerts(warehouse, hostile).empty
    assert queries.alert_evidence(warehouse, [hostile]).empty
    assert warehouse.execute("select count(*) from alerts").fetchone() != (0,)


def test_unused_parameters_are_not_sent() -> None:
    sql = "select $start, $zones"
    assert queries.bind(sql, {"start": 1, "end": 2, "zones": [], "cas": []}) == {
        "start": 1,
        "zones": [],
    }


def test_every_query_is_found_by_its_name() -> None:
    """The pages' cache runs a query by its name on ``dashboards.queries``: a query of a
    subject module that the package does not export would fail only when a page asks it."""
    import importlib
    import inspect
    import pkgutil

    for info in pkgutil.iter_modules(queries.__path__):
        module = importlib.import_module(f"{queries.__name__}.{info.name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            asks = next(iter(inspect.signature(function).parameters), None) == "con"
            if asks and function.__module__ == module.__name__:
                assert getattr(queries, name) is function, f"{info.name}.{name}"


def test_filters_narrow_by_zone_and_ca(warehouse: duckdb.DuckDBPyConnection) -> None:
    f = _all(warehouse)
    everything = queries.validation_load(warehouse, f)["requests"].sum()
    workstations = queries.validation_load(
        warehouse, queries.Filters(f.start, f.end, ("workstations",))
    )["requests"].sum()
    assert 0 < workstations < everything
    cas = queries.ca_options(warehouse)
    first = next(iter(cas))
    one_ca = queries.validation_load(warehouse, queries.Filters(f.start, f.end, (), (first,)))
    assert set(one_ca["ca"]) == {cas[first]}


def test_previous_period_is_the_same_length_just_before() -> None:
    f = queries.Filters(date(2026, 11, 15), date(2026, 11, 28))
    assert f.previous() == queries.Filters(date(2026, 11, 1), date(2026, 11, 14))
    assert f.previous().days == f.days == 14


def _all(con: duckdb.DuckDBPyConnection) -> queries.Filters:
    first, last = con.execute("select min(dt), max(dt) from fact_validation_daily").fetchone() or (
        None,
        None,
    )
    return queries.Filters(first, last)
