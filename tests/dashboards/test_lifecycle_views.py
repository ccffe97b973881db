"""Issue 17's views over the fixture warehouse, run headless by AppTest and written as
reports: management's key exposure and deployment lag, the PKI team's CA footprint by
client type, and the cyber pages that open on ranked lists with a server's neighbourhood.
Every number is checked against SQL written here, over the facts rather than the marts
the views read, so a wrong mart shows too."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from rich.console import Console
from streamlit.testing.v1 import AppTest

from certsight.reporting import make_report
from certsight.settings import Home
from dashboards.formatting import number
from dashboards.privacy import pseudonym
from tests.dashboards.test_reports import KEY, NOW, copy_home, kpi

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"

# Keys retired by the end of the data (a successor issued, expired or revoked) whose last
# validation falls in the period: issuance to that validation, in days.
RETIRED_KEYS = """
    with validated as (
        select certificate_key, min(first_seen) as first_seen, max(last_seen) as last_seen
        from fact_validation_daily where certificate_known group by 1
    ),
    newest as (select max(last_seen) as at from fact_validation_daily),
    keys as (
        select i.profile,
               date_diff('second', i.issued_at, v.last_seen) / 86400.0 as days
        from fact_issuance i join validated v using (certificate_key) cross join newest n
        where i.server is not null and v.last_seen::date between $start and $end
          and (exists (select 1 from fact_issuance s
                       where s.previous_certificate_key = i.certificate_key
                         and s.issued_at <= n.at)
               or i.not_after <= n.at or i.revoked_at <= n.at)
    )
"""
# Renewals issued in the period after the traffic began: issuance to first validation.
LAGS = """
    with validated as (
        select certificate_key, min(first_seen) as first_seen
        from fact_validation_daily where certificate_known group by 1
    )
    select date_diff('second', i.issued_at, v.first_seen) / 3600.0 as hours
    from fact_issuance i join validated v using (certificate_key)
    where i.is_renewal and i.issued_on between $start and $end
      and i.issued_at >= (select min(first_seen) from fact_validation_daily)
"""
# Clients relying on a CA: OCSP requests naming a known CA, CRL fetches of a CRL whose CA
# is known from any fetch of it.
FOOTPRINT_CLIENTS = """
    with crl_ca as (
        select crl_name, min(issuer_key_sha1) as ca from fact_crl_fetches_daily
        where issuer_key_sha1 is not null group by 1
    ),
    relied as (
        select client_ip, issuer_key_sha1 as ca from fact_validation_daily
        where issuer_key_sha1 is not null and dt between $start and $end
        union all
        select f.client_ip, coalesce(f.issuer_key_sha1, c.ca) from fact_crl_fetches_daily f
        left join crl_ca c using (crl_name)
        where f.dt between $start and $end and coalesce(f.issuer_key_sha1, c.ca) is not null
    )
"""


def _open(path: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
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


def _value(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> Any:
    found = con.execute(sql, params).fetchone()
    assert found is not None
    return found[0]


@pytest.fixture
def week(warehouse: duckdb.DuckDBPyConnection) -> dict[str, date]:
    """The reports' default week: the 7 days ending on the last day of traffic."""
    last: date = _value(warehouse, "select max(dt) from fact_validation_daily", {})
    return {"start": last - timedelta(days=6), "end": last}


@pytest.fixture
def fortnight(warehouse: duckdb.DuckDBPyConnection) -> dict[str, date]:
    """The pages' default period: the last 14 days of data."""
    last: date = _value(warehouse, "select max(dt) from fact_validation_daily", {})
    return {"start": last - timedelta(days=13), "end": last}


def _key_numbers(con: duckdb.DuckDBPyConnection, period: dict[str, date]) -> dict[str, str]:
    service = con.execute(
        RETIRED_KEYS + "select avg(days), quantile_cont(days, 0.9), avg(days) / 2 from keys",
        period,
    ).fetchone()
    lag = con.execute(
        f"select avg(hours), quantile_cont(hours, 0.9) from ({LAGS})", period
    ).fetchone()
    assert service is not None and lag is not None
    assert service[0] is not None and lag[0] is not None, "the fixture has both to show"
    return {
        "Key in service, mean": number(round(service[0], 1), " d"),
        "Key in service, 90th percentile": number(round(service[1], 1), " d"),
        "Exposure after a theft, mean": number(round(service[0] / 2, 1), " d"),
        "Deployment lag, mean": number(round(lag[0], 1), " h"),
        "Deployment lag, 90th percentile": number(round(lag[1], 1), " h"),
    }


# -- pages ------------------------------------------------------------------------------


def test_management_shows_key_exposure_and_deployment_lag(
    dashboard_env: Path, warehouse: duckdb.DuckDBPyConnection, fortnight: dict[str, date]
) -> None:
    at = _open("management/summary.py")
    assert "Key exposure" in [s.value for s in at.subheader]
    for label, expected in _key_numbers(warehouse, fortnight).items():
        assert _metric(at, label) == expected, label
    tables = [t.value for t in at.dataframe]
    by_profile = next(t for t in tables if "p90_service_days" in t.columns)
    profiles = warehouse.execute(
        RETIRED_KEYS + "select profile, count(*) from keys group by 1 order by 1", fortnight
    ).fetchall()
    shown = by_profile[by_profile["profile"] != "all profiles"]
    assert list(zip(shown["profile"], shown["keys"], strict=True)) == profiles
    assert set(by_profile["seed_exposure_days"]) == {15.0}


def test_pki_footprint_page_counts_clients_by_ca_and_software(
    dashboard_env: Path, warehouse: duckdb.DuckDBPyConnection, fortnight: dict[str, date]
) -> None:
    clients = _value(
        warehouse, FOOTPRINT_CLIENTS + "select count(distinct client_ip) from relied", fortnight
    )
    several = _value(
        warehouse,
        FOOTPRINT_CLIENTS + "select count(*) from (select client_ip from relied group by 1 "
        "having count(distinct ca) > 1)",
        fortnight,
    )
    at = _open("pki/footprint.py")
    assert [t.value for t in at.title] == ["PKI · CA footprint by client type"]
    assert _metric(at, "Clients relying on a CA") == number(clients)
    assert _metric(at, "Clients relying on several CAs") == number(several)
    table = next(t.value for t in at.dataframe if "client_version" in t.value.columns)
    # Windows CryptoAPI 10.0 on each CA: distinct clients of that User-Agent, by SQL
    expected = dict(
        warehouse.execute(
            """
            with crl_ca as (
                select crl_name, min(issuer_key_sha1) as ca from fact_crl_fetches_daily
                where issuer_key_sha1 is not null group by 1
            ),
            relied as (
                select client_ip, issuer_key_sha1 as ca, user_agent from fact_validation_daily
                where issuer_key_sha1 is not null and dt between $start and $end
                union all
                select f.client_ip, coalesce(f.issuer_key_sha1, c.ca), f.user_agent
                from fact_crl_fetches_daily f left join crl_ca c using (crl_name)
                where f.dt between $start and $end and coalesce(f.issuer_key_sha1, c.ca) is not null
            )
            select i.common_name, count(distinct client_ip) from relied r
            join dim_issuer i on i.issuer_key_sha1 = r.ca
            where user_agent = 'Microsoft-CryptoAPI/10.0' group by 1
            """,
            fortnight,
        ).fetchall()
    )
    assert expected
    windows = table[
        (table["client_software"] == "Windows CryptoAPI") & (table["client_version"] == "10.0")
    ]
    assert dict(zip(windows["ca"], windows["clients"], strict=True)) == expected


def test_server_page_opens_on_the_most_relied_upon_servers(
    dashboard_env: Path, warehouse: duckdb.DuckDBPyConnection, fortnight: dict[str, date]
) -> None:
    ranked = warehouse.execute(
        """
        select server, count(distinct client_ip) as clients,
               count(distinct coalesce(client_zone, 'unlisted')) as zones
        from client_server_edges
        where last_seen::date >= $start and first_seen::date <= $end
        group by server order by clients desc, zones desc, sum(requests) desc, server limit 5
        """,
        fortnight,
    ).fetchall()
    at = _open("cyber/server.py")
    assert "Most relied-upon servers" in [s.value for s in at.subheader]
    table = at.dataframe[0].value
    assert list(
        zip(table["server"][:5], table["clients"][:5], table["client_zones"][:5], strict=True)
    ) == [tuple(r) for r in ranked]
    assert not at.metric, "no server is open before one is picked"
    top, clients, zones = ranked[0]
    at.selectbox(key="server_ranked_pick").select(top).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params["server"] == top
    assert _metric(at, "Clients in the period") == number(clients)
    assert _metric(at, "Zones they sit in") == number(zones)
    assert "Its neighbourhood" in [s.value for s in at.subheader]
    assert at.get("graphviz_chart"), "the neighbourhood is pictured"


def test_client_page_opens_on_the_clients_with_the_most_servers(
    dashboard_env: Path, warehouse: duckdb.DuckDBPyConnection, fortnight: dict[str, date]
) -> None:
    ranked = warehouse.execute(
        """
        select client_ip, count(distinct server) as servers from client_server_edges
        where last_seen::date >= $start and first_seen::date <= $end
        group by client_ip
        order by servers desc, count(distinct coalesce(server_zone, 'unknown')) desc,
                 sum(requests) desc, client_ip
        limit 5
        """,
        fortnight,
    ).fetchall()
    at = _open("cyber/client.py")
    assert "Clients with the most servers" in [s.value for s in at.subheader]
    table = at.dataframe[0].value
    assert list(zip(table["client_ip"][:5], table["servers"][:5], strict=True)) == [
        tuple(r) for r in ranked
    ]
    top, servers = ranked[0]
    at.selectbox(key="client_ranked_pick").select(top).run()
    assert not at.exception, [e.value for e in at.exception]
    assert _metric(at, "Servers in the period") == number(servers)


# -- reports ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    html: str
    csvs: dict[str, pd.DataFrame]


@pytest.fixture(scope="module")
def written(warehouse_home: Home, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Written]:
    base = tmp_path_factory.mktemp("lifecycle-reports")
    found: dict[str, Written] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CERTSIGHT_PSEUDONYM_KEY", KEY)
        home = copy_home(warehouse_home, base / "home")
        for audience in ("management", "pki", "cyber"):
            out = base / "out" / f"{audience}.html"
            locations = make_report(
                home,
                audience=audience,
                period="week",
                end=None,
                out=out,
                now=NOW,
                notes=Console(file=io.StringIO()),
            )
            csvs = {Path(p).name: pd.read_csv(p) for p in locations[1:]}
            found[audience] = Written(out.read_text(), csvs)
    return found


def _section(html: str, title: str) -> str:
    """The HTML of one section, from its heading to the next."""
    match = re.search(rf"<h2>{re.escape(title)}</h2>(.*?)(?=<h2>|\Z)", html, re.S)
    assert match, f"no section {title!r}"
    return match.group(1)


def test_management_report_has_key_exposure_with_the_sql_numbers(
    written: dict[str, Written], warehouse: duckdb.DuckDBPyConnection, week: dict[str, date]
) -> None:
    section = _section(written["management"].html, "Key exposure")
    for label, expected in _key_numbers(warehouse, week).items():
        assert kpi(section, label) == expected, label
    assert "<svg" in section
    table = written["management"].csvs["management-key-exposure.csv"]
    assert set(table["seed_exposure_days"]) == {15.0}
    assert "management-deployment-lag.csv" in written["management"].csvs


def test_pki_report_has_the_ca_footprint_with_the_sql_numbers(
    written: dict[str, Written], warehouse: duckdb.DuckDBPyConnection, week: dict[str, date]
) -> None:
    section = _section(written["pki"].html, "CA footprint by client type")
    clients = _value(
        warehouse, FOOTPRINT_CLIENTS + "select count(distinct client_ip) from relied", week
    )
    assert kpi(section, "Clients relying on a CA") == number(clients)
    assert "<svg" in section
    table = written["pki"].csvs["pki-ca-footprint.csv"]
    cas = _value(warehouse, FOOTPRINT_CLIENTS + "select count(distinct ca) from relied", week)
    assert table["ca"].nunique() == cas


def test_cyber_report_ranks_servers_and_clients_pseudonymously(
    written: dict[str, Written], warehouse: duckdb.DuckDBPyConnection, week: dict[str, date]
) -> None:
    section = _section(written["cyber"].html, "Most relied-upon servers and clients")
    top = warehouse.execute(
        """
        select server, count(distinct client_ip) as clients from client_server_edges
        where last_seen::date >= $start and first_seen::date <= $end
        group by server
        order by clients desc, count(distinct coalesce(client_zone, 'unlisted')) desc,
                 sum(requests) desc, server
        limit 1
        """,
        week,
    ).fetchone()
    assert top is not None
    assert kpi(section, "Most clients on one server") == number(top[1])
    assert f"Clients of {top[0]} by zone" in section and "<svg" in section
    servers = written["cyber"].csvs["cyber-relied-upon-servers.csv"]
    assert (servers["server"].iloc[0], servers["clients"].iloc[0]) == tuple(top)
    clients = written["cyber"].csvs["cyber-clients-most-servers.csv"]
    busiest = warehouse.execute(
        """
        select client_ip, count(distinct server) as servers from client_server_edges
        where last_seen::date >= $start and first_seen::date <= $end
        group by client_ip
        order by servers desc, count(distinct coalesce(server_zone, 'unknown')) desc,
                 sum(requests) desc, client_ip
        limit 1
        """,
        week,
    ).fetchone()
    assert busiest is not None
    # the report's addresses are pseudonyms (exports are pseudonymised by default)
    assert clients["client_ip"].iloc[0] == pseudonym(str(busiest[0]), KEY.encode())
    assert clients["servers"].iloc[0] == busiest[1]
