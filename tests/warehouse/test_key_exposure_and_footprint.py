"""Key exposure, deployment lag and the CA footprint, end to end: a hand-made LAKE with
known key lives and lags, `certsight build`, then the dashboards' statements over the
warehouse it made (``dashboards.queries.keys`` and ``footprint``).

Twelve days of traffic from 1 November 2026:

- ten short-lived servers s1..s10: the first certificate of s<n> was issued n days before
  the traffic began and last validated on day 2 at 12:00 (so n + 2.5 days in service); its
  successor, issued on day 2 at 13:00, is first validated n hours later;
- one long-lived server whose key served 61.5 days; its successor is validated by nobody;
- one young certificate still in service, with no successor: no length yet.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from certsight.cli import main
from dashboards import queries
from dashboards.queries import Filters
from tests.warehouse.lakefixture import Issuer, LakeWriter

START = datetime(2026, 11, 1, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
DAYS = 12
CA = Issuer.make("Exposure Issuing CA")
NETWORKS = "cidr,zone,site,owner\n10.1.0.0/16,corp,hq,it\n"
PERIOD = Filters(date(2026, 11, 1), date(2026, 11, 12))


def _daily(
    writer: LakeWriter,
    client: str,
    serial: str,
    first: datetime,
    last: datetime,
    user_agent: str = "Microsoft-CryptoAPI/10.0",
) -> None:
    """A validation at ``first``, then every day at 12:00 up to ``last`` (included)."""
    writer.request(first, client, CA, serial, user_agent=user_agent)
    moment = first.replace(hour=12, minute=0) + (DAY if first.hour >= 12 else timedelta())
    while moment <= last:
        if moment != first:
            writer.request(moment, client, CA, serial, user_agent=user_agent)
        moment += DAY


def write_lake(writer: LakeWriter) -> None:
    writer.issuer(CA, START)
    end = START + (DAYS - 1) * DAY + 12 * HOUR
    renewed = START + 2 * DAY + 13 * HOUR
    for n in range(1, 11):
        host = f"s{n}.corp"
        client = f"10.1.0.{n}"
        agent = "Java/17.0.9" if n == 1 else "Microsoft-CryptoAPI/10.0"
        writer.certificate(CA, f"a{n:02d}", host, START - n * DAY, 30, profile="short")
        writer.certificate(CA, f"b{n:02d}", host, renewed, 30, profile="short")
        _daily(writer, client, f"a{n:02d}", START + 12 * HOUR, START + 2 * DAY + 12 * HOUR, agent)
        _daily(writer, client, f"b{n:02d}", renewed + n * HOUR, end, agent)
    writer.certificate(CA, "c01", "long.corp", START - 60 * DAY, 200, profile="long")
    writer.certificate(CA, "c02", "long.corp", START + DAY + 13 * HOUR, 200, profile="long")
    _daily(writer, "10.1.0.20", "c01", START + 12 * HOUR, START + DAY + 12 * HOUR)
    writer.certificate(CA, "d01", "young.corp", START - 5 * DAY, 30, profile="short")
    _daily(writer, "10.1.0.21", "d01", START + 12 * HOUR, end)
    # CRL fetches: one that names its CA, one of the same CRL that does not
    writer.crl_fetch(START + 9 * HOUR, "10.1.0.30", "exposure-ca")
    writer.rows["crl_fetches"][-1]["issuer_key_sha1"] = CA.key_sha1
    writer.crl_fetch(START + 10 * HOUR, "10.1.0.31", "exposure-ca")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("exposure") / "home"
    writer = LakeWriter(home / "lake")
    write_lake(writer)
    writer.flush()
    (home / "networks.csv").write_text(NETWORKS)
    result = CliRunner().invoke(main, ["build", "--home", str(home)])
    assert result.exit_code == 0, result.output
    return home / "warehouse.duckdb"


@pytest.fixture
def con(built: Path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(built), read_only=True)
    connection.execute("set TimeZone = 'UTC'")
    return connection


def _rows(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The rows of a per-profile statement by profile ("all" for all profiles)."""
    records = frame.assign(profile=frame["profile"].fillna("all")).to_dict("records")
    return {str(r["profile"]): {str(k): v for k, v in r.items()} for r in records}


def test_key_service_mean_and_90th_percentile_by_profile(con: duckdb.DuckDBPyConnection) -> None:
    found = _rows(queries.key_exposure(con, PERIOD))
    # short: 3.5 .. 12.5 days; the 90th percentile interpolates between the 9th and 10th
    assert found["short"]["keys"] == 10
    assert found["short"]["mean_service_days"] == pytest.approx(8.0)
    assert found["short"]["p90_service_days"] == pytest.approx(11.6)
    assert found["short"]["mean_exposure_days"] == pytest.approx(4.0)
    assert found["long"]["keys"] == 1
    assert found["long"]["mean_service_days"] == pytest.approx(61.5)
    # all profiles: the young key is still in service and not counted
    assert found["all"]["keys"] == 11
    assert found["all"]["mean_service_days"] == pytest.approx(round((80 + 61.5) / 11, 1))


def test_deployment_lag_mean_and_90th_percentile(con: duckdb.DuckDBPyConnection) -> None:
    found = _rows(queries.deployment_lag(con, PERIOD))
    assert found["short"]["renewals"] == 10 and found["short"]["deployed"] == 10
    assert found["short"]["mean_lag_hours"] == pytest.approx(5.5)
    assert found["short"]["p90_lag_hours"] == pytest.approx(9.1)
    # a successor nobody validated is counted, not measured
    assert found["long"]["renewals"] == 1 and found["long"]["not_validated_yet"] == 1
    assert pd.isna(found["long"]["mean_lag_hours"])


def test_a_period_before_the_renewals_has_no_retired_key(con: duckdb.DuckDBPyConnection) -> None:
    assert queries.key_exposure(con, Filters(date(2026, 10, 1), date(2026, 10, 31))).empty


def test_ca_footprint_by_client_software_and_version(con: duckdb.DuckDBPyConnection) -> None:
    table = queries.ca_footprint(con, PERIOD)
    by_version = {(r["client_software"], r["client_version"]): r for r in table.to_dict("records")}
    java = by_version[("Java", "17")]
    assert java["clients"] == 1 and java["ca"] == "Exposure Issuing CA"
    windows = by_version[("Windows CryptoAPI", "10.0")]
    # nine short servers' clients, the long and the young one, and both CRL fetchers
    assert windows["clients"] == 13
    assert windows["crl_fetches"] == 2
    assert windows["clients_on_this_ca_only"] == 13
    assert queries.footprint_clients(con, PERIOD) == {"clients": 14, "several_cas": 0}
