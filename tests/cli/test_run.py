"""`certsight run` (what `make run` starts) comes up with history, answers OCSP, builds
the warehouse with alerts, and stops cleanly on Ctrl-C."""

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
    port = free_port()
    home = tmp_path / "home"
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "certsight.cli", "run", "--port", str(port),
             "--backfill-requests", "40000", "--home", str(home)],
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
        finally:
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=120)
    output = log.read_text()
    assert code == 0, output
    assert "simulated" in output and "full build" in output
    assert "certsight alerts --home" in output
    assert "Traceback" not in output
