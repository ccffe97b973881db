"""AGENT_HOME: the folder the agent owns for itself (not for a certificate): its update
settings (repository URL, channel), its host id, the TUF metadata cache and the
installed agent versions.

    AGENT_HOME/settings.json      {"repo": URL, "channel": "stable"}
    AGENT_HOME/host-id            a random UUID, when /etc/machine-id is not readable
    AGENT_HOME/tuf/metadata/      TUF's trusted metadata cache
    AGENT_HOME/tuf/targets/       verified downloads
    AGENT_HOME/versions/{v}/      unpacked agent wheels
    AGENT_HOME/current -> versions/{v}   what the launcher runs
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from certsight_agent.fsutil import write_atomic

HOME_VARIABLE = "CERTSIGHT_AGENT_HOME"
# A folder of its own even when certificates go to /var/lib/certsight-agent (systemd's
# StateDirectory): the certificate folder has its own versions/, current and previous.
DEFAULT_HOME = Path("/var/lib/certsight-agent/agent")
DEFAULT_CHANNEL = "stable"


@dataclass(frozen=True)
class AgentHome:
    root: Path

    @classmethod
    def from_environment(cls) -> AgentHome:
        return cls(Path(os.environ.get(HOME_VARIABLE) or DEFAULT_HOME))

    @property
    def settings_file(self) -> Path:
        return self.root / "settings.json"

    @property
    def versions(self) -> Path:
        return self.root / "versions"

    @property
    def current(self) -> Path:
        return self.root / "current"

    @property
    def tuf_metadata(self) -> Path:
        return self.root / "tuf" / "metadata"

    @property
    def tuf_targets(self) -> Path:
        return self.root / "tuf" / "targets"

    def settings(self) -> dict[str, str]:
        try:
            loaded = json.loads(self.settings_file.read_text())
        except (OSError, ValueError):
            return {}
        return {k: str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}

    def channel(self) -> str:
        return self.settings().get("channel") or DEFAULT_CHANNEL

    def remember(self, **values: str | None) -> dict[str, str]:
        """Keep what the operator gave once (``--repo``, ``--channel``) for the timer's
        later runs, which give nothing."""
        settings = self.settings()
        settings.update({k: v for k, v in values.items() if v})
        if settings != self.settings():
            write_atomic(self.settings_file, json.dumps(settings, indent=2).encode(), mode=0o644)
        return settings
