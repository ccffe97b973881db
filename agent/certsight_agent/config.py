"""What ``enroll`` keeps in DIR for ``renew`` (DIR/agent.json, 0600): the server, the
names, the profile, the CA bundle (copied into DIR/ca-bundle.pem so that it outlives
the file it came from) and the reload hook. Never the token: renewal authenticates
with the current certificate's key, so the token's job ends with enrollment."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from certsight_agent.fsutil import write_atomic

CONFIG_NAME = "agent.json"
CA_BUNDLE_NAME = "ca-bundle.pem"


class ConfigError(Exception):
    """DIR holds no usable agent.json: it was never enrolled, or the file is damaged."""


@dataclass(frozen=True)
class AgentConfig:
    server: str
    names: list[str]
    profile: str | None = None
    ca_bundle: str | None = None  # a file name inside DIR
    reload: list[str] | None = None  # argv, run without a shell
    signal: str | None = None
    pid_file: str | None = None
    p12: bool = False
    p12_password: str | None = None  # what renew needs to write the PKCS#12 again
    extra: dict[str, Any] = field(default_factory=dict)

    def ca_path(self, out: Path) -> Path | None:
        return out / self.ca_bundle if self.ca_bundle else None

    def save(self, out: Path) -> None:
        write_atomic(out / CONFIG_NAME, json.dumps(asdict(self), indent=2).encode(), mode=0o600)

    @classmethod
    def load(cls, out: Path) -> AgentConfig:
        path = out / CONFIG_NAME
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path} does not exist: run `certsight-agent enroll`") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path} cannot be read: {exc}") from None
        if not isinstance(raw, dict) or not raw.get("server") or not raw.get("names"):
            raise ConfigError(f"{path} lacks the server or the names: enroll again")
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        try:
            return cls(**known)
        except TypeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
