"""`--churn`: what it adds to the traffic, read back from the LAKE it wrote, and the truth
that says what must alert (slipped renewals) and what must not (the zone's habits)."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest

from simulator.enterprise import build_enterprise
from tests.simulator.conftest import Simulated, connect, simulate, small_config

CHURN = small_config(seed=5, churn=True, days=12, learning_days=4)


@pytest.fixture(scope="module")
def churned(tmp_path_factory: pytest.TempPathFactory) -> Simulated:
    return simulate(tmp_path_factory.mktemp("churn"), "lake", CHURN)


@pytest.fixture(scope="module")
def zones() -> dict[str, int]:
    """Each client's zone, from the same (deterministic) enterprise."""
    enterprise = build_enterprise(CHURN)
    return dict(zip(enterprise.clients.ip, enterprise.clients.zone.tolist(), strict=True))


def _peers_before(
    con: duckdb.DuckDBPyConnection, zones: dict[str, int], client: str, server: str
) -> tuple[int, datetime]:
    """(other clients of the client's zone that validated ``server`` before the pair's
    first request, the time of that first request)."""
    first = con.execute(
        "select min(event_time) from validations where client_ip = ? and server = ?",
        [client, server],
    ).fetchone()
    assert first is not None and first[0] is not None
    before = con.execute(
        "select distinct client_ip from validations where server = ? and event_time < ?",
        [server, first[0]],
    ).fetchall()
    peers = sum(1 for (ip,) in before if ip != client and zones.get(ip) == zones[client])
    moment: datetime = first[0]
    return peers, moment


def test_churn_pairs_are_new_and_their_zone_peers_habit(
    churned: Simulated, zones: dict[str, int]
) -> None:
    benign = churned.truth["benign"]
    assert len(benign) >= 3
    learning_end = datetime.fromisoformat(churned.truth["learning_end"])
    con = connect(churned.lake)
    try:
        for pair in benign:
            peers, first = _peers_before(con, zones, pair["client_ip"], pair["server"])
            assert peers >= 2, pair
            assert first >= learning_end, pair
            assert pair["max_severity"] == "low"
    finally:
        con.close()


def test_new_edge_incidents_are_what_the_zone_never_does(
    churned: Simulated, zones: dict[str, int]
) -> None:
    planted = [i for i in churned.incidents("new_edge") if "starts validating" in i["note"]]
    assert planted
    con = connect(churned.lake)
    try:
        for incident in planted:
            peers, _ = _peers_before(con, zones, incident["client_ip"], incident["server"])
            assert peers < 2, incident
    finally:
        con.close()


def test_slipped_renewals_are_in_the_truth_and_in_the_traffic(churned: Simulated) -> None:
    slipped = churned.incidents("renewal_not_deployed")
    assert slipped, "churn slips at least one renewal on this seed"
    con = connect(churned.lake)
    try:
        for incident in slipped:
            old = con.execute(
                "select sans[1], not_before from certificates where serial = ?",
                [incident["serial"]],
            ).fetchone()
            assert old is not None
            successor = con.execute(
                "select min(not_before) from certificates where sans[1] = ? and not_before > ?",
                [old[0], old[1]],
            ).fetchone()
            assert successor is not None and successor[0] is not None
            late = con.execute(
                "select count(*) from validations where serial = ? and event_time > ?",
                [incident["serial"], successor[0] + timedelta(hours=24, minutes=10)],
            ).fetchone()
            assert late is not None and late[0] > 0, incident
    finally:
        con.close()


def test_without_churn_nothing_is_added() -> None:
    plain = build_enterprise(small_config(seed=5, days=12, learning_days=4))
    churn = build_enterprise(CHURN)
    assert plain.plan.benign == [] or all(
        # scans may reach servers their zone uses: those are the zone's habit too
        pair in churn.plan.benign
        for pair in plain.plan.benign
    )
    assert not [e for e in plain.plan.expected if e.detector == "renewal_not_deployed"]
    assert len(churn.plan.benign) > len(plain.plan.benign)
    assert len(churn.plan.events.moment) > len(plain.plan.events.moment)


def test_truth_lists_the_lifecycle_detectors(churned: Simulated) -> None:
    assert {"renewal_not_deployed", "expiry_outage_risk"} <= set(churned.truth["detectors"])


def test_overdue_certificates_in_service_are_in_the_truth(churned: Simulated) -> None:
    at_risk = churned.incidents("expiry_outage_risk")
    assert at_risk, "churn leaves renewals undone on this seed"
    end = datetime.fromisoformat(churned.truth["end"])
    con = connect(churned.lake)
    try:
        for incident in at_risk:
            found = con.execute(
                "select not_before, not_after, sans[1] from certificates where serial = ?",
                [incident["serial"]],
            ).fetchone()
            assert found is not None
            not_before, not_after, server = found
            assert end < not_after <= end + timedelta(days=30), incident
            # past 5/6 of its life: no ordinary renewal is that late
            assert not_before + (not_after - not_before) * 5 / 6 <= end, incident
            successors = con.execute(
                "select count(*) from validations v join certificates c using (serial) "
                "where c.sans[1] = ? and c.not_before > ?",
                [server, not_before],
            ).fetchone()
            assert successors == (0,), incident
            recent = con.execute(
                "select count(*) from validations where serial = ? and event_time >= ?",
                [incident["serial"], end - timedelta(days=7)],
            ).fetchone()
            assert recent is not None and recent[0] > 0, incident
    finally:
        con.close()
