"""The warehouse the dashboard tests, the browser tests and bench/screenshots.py look at:
every detector's incidents in 14 days of a small simulated enterprise (the simulator's
lake mode), built by the real warehouse build in about 15 s."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from certsight.building import run_build
from certsight.settings import Home
from simulator.config import make_config
from simulator.run import run_simulation

END = datetime(2026, 11, 28, tzinfo=UTC)


def build_fixture_home(root: Path) -> Home:
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
    with open(os.devnull, "w") as quiet:
        run_build(home, learning_days=5, console=Console(file=quiet))
    return home
