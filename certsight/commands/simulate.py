"""``certsight simulate``: a synthetic enterprise with ground truth (development tool)."""

from __future__ import annotations

from typing import Any

import click

from certsight.commands.common import console, home_option
from certsight.settings import Home
from simulator.command import simulate_command, simulate_options


@click.command()
@simulate_options
@home_option
def simulate(home: Home, **options: Any) -> None:
    """A synthetic enterprise's PKI traffic, with the alerts it should raise (docs/simulate.md)."""
    simulate_command(home, console, **options)
