"""`certsight run` (what `make run` starts) comes up with history, answers OCSP, builds
the warehouse with alerts, serves the dashboards, carries live traffic from the simulated
population all the way into the warehouse, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from tests.conftest import free_port


@pytest.mark.slow
def test_run_comes_up_builds_alerts_and_stops_cleanly(tmp_path: Path) -> None:
    port, dashboard_port, issuance_port = free_port(), free_port(), free_port()
    home = tmp_path / "home"
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "certsight.cli", "run", "--port", str(port),
             "--backfill-requests", "40000", "--home", str(home),
             "--dashboard-port", str(dashboard_port), "--live-rate", "20",
             "--issuance-port", str(issuance_port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        try:
            warehouse = home / "warehouse.duckdb"
            deadline = time.monotonic() + 240
            while not warehouse.exists():
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
                assert reply.status == 200
            con = duckdb.connect(str(warehouse), read_only=True)
            try:
                detectors = {
                    row[0] for row in con.execute("select detector from alerts").fetchall()
                }
                edges = con.execute("select count(*) from client_server_edges").fetchone()
            finally:
                con.close()
            assert edges is not None and edges[0] > 0
            assert "unknown_certificate" in detectors
            dashboard = f"http://127.0.0.1:{dashboard_port}"
            while not _answers(f"{dashboard}/_stcore/health"):
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
            with urllib.request.urlopen(f"{dashboard}/", timeout=5) as reply:
                assert reply.status == 200
            time.sleep(12)  # at least one flush of the responder's logs with live traffic
        finally:
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=120)
    output = log.read_text()
    assert code == 0, output
    assert "simulated" in output and "full build" in output
    assert "certsight alerts --home" in output
    assert f"{dashboard}/cyber" in output  # where to look first
    assert "Traceback" not in output
    assert not _answers(f"{dashboard}/_stcore/health")  # the dashboards stopped too
    # The live population's requests went through the responder, its logs, the ingest and
    # the final build: its servers are validated by its (simulated, zoned) clients.
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        live = con.execute(
            "select count(distinct client_ip), sum(requests), count(distinct server) "
            "from fact_validation_daily where server like '%.live.corp.example'"
        ).fetchone()
        local = con.execute(
            "select count(*) from fact_validation_daily where client_ip = '127.0.0.1'"
        ).fetchone()
    finally:
        con.close()
    assert live is not None and live[0] > 5 and live[1] > 20 and live[2] > 3, live
    assert local == (0,)
    reports = sorted(p.name for p in (home / "reports").glob("latest-*.html"))
    assert reports == ["latest-cyber.html", "latest-management.html", "latest-pki.html"]
    # Every module ran: the CRL updater signed (issuance), the CA certificates were
    # published (publishing).
    assert "CA certificates published in" in output
    published = sorted(p.name for p in (home / "publish" / "ca").iterdir())
    assert published == ["ca-bundle.pem", "ca-manifest.json", "issuing-ca.crt", "root-ca.crt"]
    assert (home / "pki" / "crl" / "issuing-ca.crl").stat().st_size > 0
    # The issuance API ran beside the responders, and a pipeline's token obtained a
    # certificate through it, which the inventory records as automated.
    assert f"issuance API  https://127.0.0.1:{issuance_port}/v1" in output
    assert "through the issuance API as api:demo-pipeline" in output
    token = home / "issuance" / "demo-pipeline.token"
    assert oct(token.stat().st_mode & 0o777) == "0o600"
    assert token.read_text().strip() not in output  # the secret is never printed
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        automated = con.execute(
            "select count(*) from fact_issuance where requester = 'api:demo-pipeline' and automated"
        ).fetchone()
    finally:
        con.close()
    assert automated == (1,)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False
