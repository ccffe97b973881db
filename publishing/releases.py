"""Channels, target names and the staged-rollout rule: the part of the contract with the
endpoint agent that both sides compute alike (docs/publishing.md).

Target paths: ``channels/{channel}/agent/certsight_agent-{version}-py3-none-any.whl``,
``channels/{channel}/scripts/{file}``, ``truststore/{bundle}/{version}/{file}``. Each
target's signed ``custom`` carries ``{"certsight": {...}}`` with its kind, name,
version, channel (and for an agent its rollout percent): a client decides from signed
fields only, never from a file name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from packaging.version import InvalidVersion, Version

if TYPE_CHECKING:
    from publishing.repository import Published

AGENT_NAME = "certsight-agent"
AGENT_DIST = "certsight_agent"
DEFAULT_CHANNELS = ("stable", "canary")
_CHANNEL = re.compile(r"\A[a-z][a-z0-9-]{0,31}\Z")


class ReleaseError(ValueError):
    """A release cannot be made as asked (bad channel, version, rollout, or none found)."""


def check_channel(channel: str, channels: Sequence[str]) -> str:
    if channel not in channels:
        raise ReleaseError(
            f"unknown channel {channel!r}; configured channels: {', '.join(channels)}"
        )
    return channel


def check_channel_name(channel: str) -> str:
    """Channel names become path segments: lowercase letters, digits and dashes."""
    if not _CHANNEL.match(channel):
        raise ReleaseError(f"not a channel name: {channel!r} (lowercase letters, digits, '-')")
    return channel


def check_version(version: str) -> str:
    """A PEP 440 version in its normal form (what a wheel's file name carries)."""
    try:
        parsed = Version(version)
    except InvalidVersion:
        raise ReleaseError(f"not a PEP 440 version: {version!r}") from None
    if str(parsed) != version:
        raise ReleaseError(f"write the version as {parsed} (PEP 440 normal form), not {version}")
    return version


def check_rollout(rollout: int) -> int:
    if not 0 <= rollout <= 100:
        raise ReleaseError(f"rollout is a percent from 0 to 100, not {rollout}")
    return rollout


def wheel_name(version: str) -> str:
    return f"{AGENT_DIST}-{version}-py3-none-any.whl"


def agent_path(channel: str, version: str) -> str:
    return f"channels/{channel}/agent/{wheel_name(version)}"


def script_path(channel: str, name: str) -> str:
    return f"channels/{channel}/scripts/{name}"


def truststore_path(bundle: str, version: str, file_name: str) -> str:
    return f"truststore/{bundle}/{version}/{file_name}"


def agent_custom(
    version: str, channel: str, rollout: int, published_at: datetime
) -> dict[str, Any]:
    return {
        "kind": "agent",
        "name": AGENT_NAME,
        "version": version,
        "channel": channel,
        "rollout": check_rollout(rollout),
        "published_at": published_at.isoformat(),
    }


def script_custom(name: str, version: str, channel: str) -> dict[str, Any]:
    return {"kind": "script", "name": name, "version": version, "channel": channel}


def in_rollout(name: str, version: str, host_id: str, rollout: int) -> bool:
    """The staged-rollout rule, the same on both sides: a host takes release (name,
    version) when the first 32 bits of SHA-256 over ``name:version:host_id``, modulo
    100, fall under the rollout percent. A stable hash, so a host's answer never flips
    while the percent stays, and raising the percent only adds hosts."""
    digest = hashlib.sha256(f"{name}:{version}:{host_id}".encode()).hexdigest()
    return int(digest[:8], 16) % 100 < rollout


def agent_releases(published: Iterable[Published], channel: str) -> list[Published]:
    """The agent targets on ``channel``, oldest version first."""
    found = [
        p
        for p in published
        if p.custom.get("kind") == "agent" and p.custom.get("channel") == channel
    ]
    return sorted(found, key=lambda p: Version(str(p.custom.get("version", "0"))))


def newest_release(published: Iterable[Published], channel: str) -> Published | None:
    """The release on a channel: its agent target with the highest PEP 440 version."""
    releases = agent_releases(published, channel)
    return releases[-1] if releases else None


def find_release(published: Iterable[Published], channel: str, version: str) -> Published:
    for release in agent_releases(published, channel):
        if release.custom.get("version") == version:
            return release
    raise ReleaseError(f"no agent {version} on the {channel} channel")


def describe(published: Published) -> Mapping[str, Any]:
    """One line of ``publish status``: kind, name, version, channel and URL path."""
    custom = published.custom
    return {
        "kind": custom.get("kind", "other"),
        "name": custom.get("name", published.path.rsplit("/", 1)[-1]),
        "version": custom.get("version"),
        "channel": custom.get("channel"),
        "format": custom.get("format"),
        "rollout": custom.get("rollout"),
        "target": published.path,
        "url_path": published.url_path,
        "bytes": published.length,
        "sha256": published.sha256,
    }
