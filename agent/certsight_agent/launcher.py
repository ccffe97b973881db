"""The ``certsight-agent`` command: runs the version AGENT_HOME/current points at.

The package manager installs one copy (the "base"); ``update`` unpacks newer ones into
AGENT_HOME/versions/{version}/ and moves the AGENT_HOME/current symlink. This launcher,
always the base copy's, looks at that link: when it names a folder holding an agent
other than itself, it replaces its process with ``python -P -m certsight_agent.cli``
with that folder first on PYTHONPATH (``-P``: the working directory is not searched, so
a stray folder there cannot pose as the agent). Without the link, or with it broken,
the base copy runs. ``CERTSIGHT_AGENT_LAUNCHED=1`` marks the re-executed process so
it never dispatches again.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from certsight_agent.home import AgentHome
from certsight_agent.selfupdate import LAUNCHED_VARIABLE


def chosen_version_dir(home: AgentHome) -> Path | None:
    if not home.current.is_symlink():
        return None
    target = home.current.resolve()
    if not (target / "certsight_agent" / "__init__.py").is_file():
        return None  # broken or half-removed: the base copy is better than nothing
    here = Path(__file__).resolve().parent.parent
    return None if target == here else target


def main() -> None:
    if os.environ.get(LAUNCHED_VARIABLE) != "1":
        target = chosen_version_dir(AgentHome.from_environment())
        if target is not None:
            env = {**os.environ, LAUNCHED_VARIABLE: "1", "PYTHONPATH": str(target)}
            argv = [sys.executable, "-P", "-m", "certsight_agent.cli", *sys.argv[1:]]
            os.execve(sys.executable, argv, env)  # noqa: S606 - our interpreter, our module
    from certsight_agent.cli import main as cli_main

    sys.exit(cli_main())
