"""Every page of the dashboards, run headless by Streamlit's AppTest over the fixture
warehouse: no exception, the title names the audience, and the key numbers are what SQL
over the same warehouse says (SQL written here, independently of dashboards.queries)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from certsight.settings import CertsightSettings, Home
from dashboards.catalog import PAGES, START, page

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"


def _app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=60)


def _open(path: str, **query: str) -> AppTest:
    at = _app()
    at.run()
    at.query_params.update(query)
    at.switch_page(path)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, f"no metric {label!r}: {[m.label for m in at.metric]}"
    return str(found[0])


def _count(text: str) -> int:
    return int(text.replace(",", "").split()[0])


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    found = con.execute(sql, params or []).fetchone()
    assert found is not None
    return found[0]


@pytest.fixture
def period(warehouse: duckdb.DuckDBPyConnection) -> tuple[date, date]:
    """The default period: the last 14 days of data."""
    last = _one(warehouse, "select max(dt) from fact_validation_daily")
    return last - timedelta(days=13), last


@pytest.mark.parametrize("spec", PAGES, ids=[p.url_path for p in PAGES])
def test_every_page_renders_with_its_audience_in_the_title(dashboard_env: Path, spec: Any) -> None:
    at = _open(spec.path)
    assert [t.value for t in at.title] == [spec.title]
    audience = {"pki": "PKI", "cyber": "Cyber defence", "management": "Management"}
    assert spec.title.startswith(audience[spec.audience])
    assert not at.error


def test_the_start_page_leads_to_every_audience(dashboard_env: Path) -> None:
    at = _app()
    at.run()  # the default page
    assert not at.exception
    assert [t.value for t in at.title] == [START.title]
    links = {getattr(link, "label", None) for link in at.get("page_link")}
    assert links == {spec.title for spec in PAGES}


def test_management_numbers_equal_sql(
    dashboard_env: Path, warehouse: duckdb.DuckDBPyConnection, period: tuple[date, date]
) -> None:
    start, end = period
    at = _open("management/summary.py")
    managed = _one(
        warehouse,
        """select count(*) from dim_certificate where in_inventory and server is not null
           and not_before::date <= $1 and not_after::date > $1
           and (revoked_at is null or revoked_at::date > $1)""",
        [end],
    )
    assert managed > 0
    assert _count(_metric(at, "Certificates managed")) == managed
    critical = _one(
        warehouse,
        "select count(*) from alerts where severity = 'critical' and status = 'open' "
        "and first_seen::date <= $1",
        [end],
    )
    assert critical > 0
    assert _count(_metric(at, "Open critical alerts")) == critical
    on_time = _one(
        warehouse,
        """select round(100.0 * count(*) filter (where renewal_timing = 'on_time')
                  / count(*), 1)
           from fact_issuance where is_renewal and issued_on between $1 and $2""",
        [start, end],
    )
    assert on_time is not None
    assert float(_metric(at, "On-time renewals").split()[0]) == pytest.approx(float(on_time))
    # Only renewals on time by certsight's own rule prevented an incident; late ones
    # (after the renewal window closed, before expiry) are counted apart.
    prevented, late = warehouse.execute(
        """select count(*) filter (where renewal_timing = 'on_time'),
                  count(*) filter (where renewal_timing = 'late')
           from fact_issuance where issued_on between $1 and $2""",
        [start, end],
    ).fetchone() or (0, 0)
    assert _count(_metric(at, "Incidents prevented")) == prevented
    assert _count(_metric(at, "Late renewals")) == late


def test_pki_numbers_equal_sql(
    dashboard_env: Path, warehouse: duckdb.DuckDBPyConnection, period: tuple[date, date]
) -> None:
    start, end = period
    renewals = _one(
        warehouse,
        "select count(*) from fact_issuance where is_renewal and issued_on between $1 and $2",
        [start, end],
    )
    at = _open("pki/certificates.py")
    assert _count(_metric(at, "Renewals in the period")) == renewals
    requests = _one(
        warehouse,
        "select sum(requests) from fact_validation_daily where dt between $1 and $2",
        [start, end],
    )
    at = _open("pki/validation.py")
    assert _count(_metric(at, "OCSP requests")) == requests
    crl = _one(
        warehouse,
        "select sum(fetches) from fact_crl_fetches_daily where dt between $1 and $2",
        [start, end],
    )
    assert _count(_metric(at, "CRL downloads")) == crl
    stores = _one(
        warehouse,
        "select coalesce(sum(downloads), 0) from fact_downloads_daily "
        "where kind = 'truststore' and dt between $1 and $2",
        [start, end],
    )
    at = _open("pki/adoption.py")
    assert _count(_metric(at, "Trust-store downloads")) == stores


def test_cyber_alert_queue_counts_and_links(
    dashboard_env: Path, warehouse: duckdb.DuckDBPyConnection, period: tuple[date, date]
) -> None:
    start, end = period
    at = _open("cyber/alerts.py")
    for severity in ("critical", "high", "medium"):
        expected = _one(
            warehouse,
            "select count(*) from alerts where status = 'open' and severity = $1 "
            "and last_seen::date >= $2 and first_seen::date <= $3",
            [severity, start, end],
        )
        assert _count(_metric(at, severity.capitalize())) == expected
    # The first (worst) alert is shown with its evidence and links to its ends.
    worst = warehouse.execute(
        """select severity, detector, server, client_ip from alerts
           where status = 'open' and last_seen::date >= $1 and first_seen::date <= $2
           order by list_position(['critical', 'high', 'medium', 'low'], severity),
                    last_seen desc, alert_key limit 1""",
        [start, end],
    ).fetchone()
    assert worst is not None
    assert next(s.value for s in at.subheader) == f"{worst[0].capitalize()} · {worst[1]}"
    assert at.json, "the evidence is shown"
    links = {getattr(link, "label", None) for link in at.get("page_link")}
    if worst[2]:
        assert f"What relies on {worst[2]}" in links
    if worst[3]:
        assert f"Where {worst[3]} connects" in links


def test_server_view_shows_the_blast_radius(
    dashboard_env: Path, warehouse: duckdb.DuckDBPyConnection, period: tuple[date, date]
) -> None:
    start, end = period
    server, clients = warehouse.execute(
        """select server, count(*) from client_server_edges
           where last_seen::date >= $1 and first_seen::date <= $2
           group by server order by 2 desc, server limit 1""",
        [start, end],
    ).fetchone() or (None, None)
    assert server is not None
    at = _open("cyber/server.py", server=server)
    assert _count(_metric(at, "Clients in the period")) == clients
    assert at.get("graphviz_chart"), "the graph of the edges is drawn"
    # Search box: part of the name finds it too.
    at.text_input(key="server_search").input(server.split(".")[0]).run()
    assert not at.exception


def test_client_view_shows_where_it_connects(
    dashboard_env: Path, warehouse: duckdb.DuckDBPyConnection, period: tuple[date, date]
) -> None:
    start, end = period
    client, servers = warehouse.execute(
        """select client_ip, count(*) from client_server_edges
           where last_seen::date >= $1 and first_seen::date <= $2
           group by client_ip order by 2 desc, client_ip limit 1""",
        [start, end],
    ).fetchone() or (None, None)
    assert client is not None
    at = _open("cyber/client.py", client=client)
    assert _count(_metric(at, "Servers in the period")) == servers


def test_exposure_counts_revoked_validations(
    dashboard_env: Path, warehouse: duckdb.DuckDBPyConnection, period: tuple[date, date]
) -> None:
    start, end = period
    revoked = _one(
        warehouse,
        """select count(distinct v.client_ip)
           from fact_validation_daily v join dim_certificate d using (certificate_key)
           where v.dt between $1 and $2 and v.certificate_known
             and d.revoked_at is not null and v.dt >= d.revoked_at::date""",
        [start, end],
    )
    assert revoked > 0
    at = _open("cyber/exposure.py")
    assert _count(_metric(at, "Clients validating revoked certificates")) == revoked


def test_filters_carry_across_pages_and_narrow_the_numbers(
    dashboard_env: Path, warehouse: duckdb.DuckDBPyConnection, period: tuple[date, date]
) -> None:
    start, end = period
    zone = "workstations"
    expected = _one(
        warehouse,
        """select sum(v.requests) from fact_validation_daily v join dim_client c using (client_ip)
           where v.dt between $1 and $2 and c.zone = $3""",
        [start, end, zone],
    )
    at = _open("pki/validation.py")
    at.sidebar.multiselect(key="_filter_zones").select(zone).run()
    assert _count(_metric(at, "OCSP requests")) == expected
    at.switch_page("management/summary.py")
    at.run()
    assert at.sidebar.multiselect(key="_filter_zones").value == [zone]
    at.switch_page("pki/validation.py")
    at.run()
    assert _count(_metric(at, "OCSP requests")) == expected


def test_without_a_warehouse_pages_say_what_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTSIGHT_HOME", str(tmp_path))
    for spec in [*PAGES, START]:
        at = _open(spec.path)
        assert any("no warehouse" in i.value for i in at.info), spec.path


@pytest.fixture
def signed_in_home(warehouse_home: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home whose settings ask for OIDC sign-in, over the fixture's warehouse, handed to
    the app the way `certsight dashboard` hands them (the app reads no settings file)."""
    monkeypatch.setenv("CERTSIGHT_HOME", str(tmp_path))
    monkeypatch.setenv("CERTSIGHT_WAREHOUSE", str(warehouse_home.warehouse))
    (tmp_path / "certsight.toml").write_text(
        """
[dashboard.oidc]
server_metadata_url = "https://idp.example/.well-known/openid-configuration"
client_id = "certsight"
redirect_uri = "https://certsight.example/oauth2callback"
[dashboard.audiences]
cyber = ["soc"]
management = ["board", "cio-office"]
"""
    )
    for name, value in CertsightSettings.load(Home(tmp_path)).dashboards().environment().items():
        monkeypatch.setenv(name, value)
    return tmp_path


def test_signed_out_users_see_only_the_sign_in(signed_in_home: Path) -> None:
    at = _app()
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.metric


@pytest.mark.parametrize(
    ("groups", "shown", "hidden", "headline"),
    [
        (["soc"], "cyber/alerts.py", "management/summary.py", "Open critical / high alerts"),
        (["cio-office"], "management/summary.py", "cyber/alerts.py", "Automation rate"),
    ],
)
def test_users_see_the_audiences_of_their_groups(
    signed_in_home: Path,
    groups: list[str],
    shown: str,
    hidden: str,
    headline: str,
) -> None:
    at = _app()
    at.user = {"is_logged_in": True, "email": "someone@example.com", "groups": groups}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["certsight · Start"]
    assert [m.label for m in at.metric] == [headline]  # only their audiences' summaries
    at.switch_page(shown).run()
    assert not at.exception and at.title[0].value == page(shown).title
    with pytest.raises(Exception, match=r"(?i)page|not found|could not"):
        at.switch_page(hidden).run()


def test_users_in_no_mapped_group_see_nothing(signed_in_home: Path) -> None:
    at = _app()
    at.user = {"is_logged_in": True, "email": "x@example.com", "groups": ["interns"]}
    at.run()
    assert not at.exception
    assert at.error and "no group" in at.error[0].value
    assert not at.metric


def test_a_rebuild_shows_on_the_next_view(
    warehouse_home: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build renames a new file over the warehouse; the next view must read it, not the
    database DuckDB still has open under the same path."""
    import os
    import shutil

    live = tmp_path / "warehouse.duckdb"
    shutil.copyfile(warehouse_home.warehouse, live)
    monkeypatch.setenv("CERTSIGHT_HOME", str(tmp_path))
    at = _open("pki/validation.py")
    before = _count(_metric(at, "OCSP requests"))
    rebuilt = tmp_path / "rebuilt.duckdb"
    shutil.copyfile(live, rebuilt)
    con = duckdb.connect(str(rebuilt))
    try:
        con.execute("update fact_validation_daily set requests = requests * 2")
    finally:
        con.close()
    os.replace(rebuilt, live)
    at.run()
    assert not at.exception
    assert _count(_metric(at, "OCSP requests")) == 2 * before
