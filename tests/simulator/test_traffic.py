"""Ordinary traffic behaves, and every expected alert is really in the data.

Checked on the LAKE the way a detector would read it (tests/simulate/conftest.py
resolves each CertID to its issuer and certificate). "Behaves" means: nothing in
ordinary traffic looks like an incident, so a detector's false positives are its own.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.simulator.conftest import Simulated, simulate, small_config


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return con.execute(sql).fetchall()


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_same_seed_same_truth_and_rows(lake_run: Simulated, tmp_path: Path) -> None:
    again = simulate(tmp_path / "again", "lake")
    assert again.truth == lake_run.truth
    assert again.summary.rows == lake_run.summary.rows
    assert again.summary.requests == lake_run.summary.requests
    other = simulate(tmp_path / "other", "lake", small_config(seed=8))
    assert other.truth["incidents"] != lake_run.truth["incidents"]


def test_every_detector_has_its_incidents(lake_run: Simulated) -> None:
    truth = lake_run.truth
    assert truth["seed"] == 7 and truth["learning_days"] == 4
    counts: defaultdict[str, int] = defaultdict(int)
    for incident in truth["incidents"]:
        counts[incident["detector"]] += 1
        assert when(incident["start"]) <= when(incident["end"])
        assert when(incident["start"]) >= when(truth["learning_end"])
        for key in incident["keys"]:
            assert incident[key] is not None
    # the lifecycle detectors' entries are what the inventory really did, not planted
    planted = [
        d
        for d in truth["detectors"]
        if d not in ("new_edge", "renewal_not_deployed", "expiry_outage_risk")
    ]
    assert {d: counts[d] for d in planted} == dict.fromkeys(planted, 2)
    # two new edges, and those of the scans (the zone's habits among them are benign)
    assert counts["new_edge"] + len(truth["benign"]) >= 2 + 40
    assert len({i["id"] for i in truth["incidents"]}) == len(truth["incidents"])


def test_certids_of_ordinary_traffic_all_resolve(
    lake_run: Simulated, lake_db: duckdb.DuckDBPyConnection
) -> None:
    unresolved = rows(
        lake_db,
        "select distinct serial, coalesce(resolved_issuer, issuer_key_hash) from validations "
        "where server is null",
    )
    expected = {
        (i["serial"], i["issuer"])
        for i in lake_run.incidents("unknown_certificate") + lake_run.incidents("unknown_issuer")
    }
    assert set(unresolved) == expected


def test_revoked_and_expired_certificates_only_where_the_truth_says(
    lake_run: Simulated, lake_db: duckdb.DuckDBPyConnection
) -> None:
    revoked = rows(
        lake_db,
        "select serial, resolved_issuer, min(event_time), max(event_time) from validations "
        "where event_time >= revoked_at group by all",
    )
    truth = {
        (i["serial"], i["issuer"]): i for i in lake_run.incidents("revoked_certificate_validated")
    }
    assert {(s, i) for s, i, _, _ in revoked} == set(truth)
    for serial, issuer, first, last in revoked:
        incident = truth[(serial, issuer)]
        assert when(incident["start"]) <= first and last <= when(incident["end"])
    expired = rows(
        lake_db,
        "select distinct serial, resolved_issuer, server from validations "
        "where event_time > not_after",
    )
    assert set(expired) == {
        (i["serial"], i["issuer"], i["server"])
        for i in lake_run.incidents("expired_certificate_validated")
    }


def test_new_edges_only_where_the_truth_says(
    lake_run: Simulated, lake_db: duckdb.DuckDBPyConnection
) -> None:
    learned = lake_run.truth["learning_end"]
    found = rows(
        lake_db,
        "select client_ip, server, min(event_time) from validations where server is not null "
        f"group by all having min(event_time) >= timestamptz '{learned}'",
    )
    truth = {(i["client_ip"], i["server"]): i for i in lake_run.incidents("new_edge")}
    benign = {(b["client_ip"], b["server"]) for b in lake_run.truth["benign"]}
    assert not benign & set(truth)
    assert {(c, s) for c, s, _ in found} == set(truth) | benign
    for client, server, first in found:
        if (client, server) in truth:
            assert when(truth[(client, server)]["start"]) <= first


def test_every_habit_shows_on_the_clients_first_day(
    lake_run: Simulated, lake_db: duckdb.DuckDBPyConnection
) -> None:
    learned = lake_run.truth["learning_end"]
    late = rows(
        lake_db,
        f"""
        with pairs as (
            select client_ip, server, min(event_time)::date as first_day
            from validations where server is not null group by all),
        clients as (
            select client_ip, min(event_time)::date as client_day from validations group by all)
        select count(*) from pairs join clients using (client_ip)
        where first_day > client_day and first_day < timestamptz '{learned}'
        """,
    )
    assert late == [(0,)]


def test_staplers_ask_only_about_their_own_certificate(lake_db: duckdb.DuckDBPyConnection) -> None:
    staplers = rows(
        lake_db,
        """
        select client_ip, count(distinct server), bool_and(list_contains(sans, client_ip)),
               count(distinct date_trunc('hour', event_time))
        from validations
        where client_ip in (select unnest(sans) from certificates)
        group by client_ip
        """,
    )
    assert staplers
    for _, servers, own, hours in staplers:
        assert servers == 1 and own
        assert hours >= 9 * 24 - 2  # every hour, around the clock


def test_scans_and_volume_only_where_the_truth_says(
    lake_run: Simulated, lake_db: duckdb.DuckDBPyConnection
) -> None:
    wide = rows(
        lake_db,
        "select client_ip, date_trunc('hour', event_time) as hour, count(distinct server) "
        "from validations where server is not null group by all "
        "having count(distinct server) >= 20",
    )
    scans = {(i["client_ip"], when(i["start"])) for i in lake_run.incidents("fanout_spike")}
    assert {(c, h) for c, h, _ in wide} == scans
    assert all(n >= 40 for *_, n in wide)
    daily = rows(
        lake_db,
        """
        with days as (select distinct event_time::date as day from validations
                      where event_time < (select max(event_time)::date from validations)),
        servers as (select distinct server from validations where server is not null),
        counts as (select server, event_time::date as day, count(distinct request) as n
                   from validations where server is not null group by all)
        select s.server, d.day, coalesce(c.n, 0)
        from servers s cross join days d left join counts c using (server, day)
        """,
    )
    per_server: dict[str, dict[object, int]] = defaultdict(dict)
    for server, day, count in daily:
        per_server[str(server)][day] = int(str(count))
    silent = {(s, d) for s, days in per_server.items() for d, n in days.items() if n == 0}
    busy = {
        (s, d)
        for s, days in per_server.items()
        for d, n in days.items()
        if n >= 6 * statistics.median(days.values())
    }
    truth = {(i["server"], when(i["start"]).date()) for i in lake_run.incidents("volume_anomaly")}
    assert silent | busy == truth
    assert silent and busy


@pytest.mark.parametrize("detector", ["unknown_certificate", "unknown_issuer"])
def test_unknown_certids_are_requested(
    lake_run: Simulated, lake_db: duckdb.DuckDBPyConnection, detector: str
) -> None:
    for incident in lake_run.incidents(detector):
        found = rows(
            lake_db,
            "select count(distinct request), min(event_time), max(event_time) from validations "
            f"where serial = '{incident['serial']}' and issuer_key_hash = "
            f"(select issuer_key_hash from validations where serial = '{incident['serial']}' "
            "limit 1)",
        )
        count, first, last = found[0]
        assert count == incident["requests"] and count >= 3
        assert when(incident["start"]) <= first and last <= when(incident["end"])
