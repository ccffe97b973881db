"""The host's stable id, which places it inside or outside a staged rollout: the
systemd machine id when readable, else a random UUID made once and kept in
AGENT_HOME/host-id.

``CERTSIGHT_AGENT_MACHINE_ID_FILE`` names another file to read instead of
/etc/machine-id: for hosts cloned from one image that share a machine id, and for
tests that need hosts on either side of a rollout."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from certsight_agent.fsutil import write_atomic
from certsight_agent.home import AgentHome

MACHINE_ID_VARIABLE = "CERTSIGHT_AGENT_MACHINE_ID_FILE"


def host_id(home: AgentHome) -> str:
    machine_id = Path(os.environ.get(MACHINE_ID_VARIABLE) or "/etc/machine-id")
    try:
        text = machine_id.read_text().strip()
    except OSError:
        text = ""
    if text:
        return text
    kept = home.root / "host-id"
    try:
        stored = kept.read_text().strip()
    except OSError:
        stored = ""
    if stored:
        return stored
    made = str(uuid.uuid4())
    write_atomic(kept, f"{made}\n".encode(), mode=0o644)
    return made
