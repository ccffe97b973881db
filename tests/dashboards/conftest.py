"""One small warehouse for the dashboard and report tests: a simulated enterprise written
straight to the LAKE (the simulator's lake mode) and built by the real warehouse build.

Small enough to make in well under a minute, with every detector's incidents in it, so
every page has something to show and every number can be checked against SQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from rich.console import Console

from certsight.building import run_build
from certsight.settings import Home
from certsight.simulate.config import make_config
from certsight.simulate.run import run_simulation

END = datetime(2026, 11, 28, tzinfo=UTC)


@pytest.fixture(scope="session")
def warehouse_home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    root = tmp_path_factory.mktemp("dashboards") / "home"
    config = make_config(
        seed=11,
        end=END,
        days=14,
        requests=40_000,
        clients=300,
        servers=80,
        learning_days=5,
        incidents=2,
    )
    run_simulation(config, root, mode="lake")
    home = Home(root)
    run_build(home, learning_days=5, console=Console(file=open(os.devnull, "w")))  # noqa: SIM115
    assert home.warehouse.exists()
    return home


@pytest.fixture
def warehouse(warehouse_home: Home) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(warehouse_home.warehouse), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    yield con
    con.close()


@pytest.fixture
def dashboard_env(warehouse_home: Home, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment ``certsight dashboard`` gives the app: the home to read."""
    monkeypatch.setenv("CERTSIGHT_HOME", str(warehouse_home.root))
    monkeypatch.delenv("CERTSIGHT_WAREHOUSE", raising=False)
    return warehouse_home.root
