"""One small warehouse for the dashboard and report tests: a simulated enterprise written
straight to the LAKE (the simulator's lake mode) and built by the real warehouse build.

Small enough to make in well under a minute, with every detector's incidents in it, so
every page has something to show and every number can be checked against SQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from certsight.settings import Home
from tests.dashboards.fixture_home import build_fixture_home


@pytest.fixture(scope="session")
def warehouse_home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    home = build_fixture_home(tmp_path_factory.mktemp("dashboards") / "home")
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
