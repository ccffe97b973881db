"""The TUF client side (python-tuf ngclient): the publishing server's repository read
with the root of trust shipped inside the agent (shared contract, points 1 and 5).

TUF checks signatures, thresholds, versions (no rollback), expiry and the length and
hashes of every target; what it does not stop, a signed but older release, the
updater refuses itself (selfupdate.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import urllib3
from tuf.api import exceptions
from tuf.api.metadata import Metadata, TargetFile, Targets
from tuf.ngclient import FetcherInterface, Updater, UpdaterConfig

from certsight_agent.home import AgentHome

ROOT_RESOURCE = "trusted_root.json"
REFUSALS = exceptions.RepositoryError  # bad signature, expired, rolled back, bad hash
UNREACHABLE = exceptions.DownloadError  # no answer, or an HTTP error


class NoTrustedRoot(Exception):
    """This build of the agent carries no root metadata and none was given."""


class AgentFetcher(FetcherInterface):
    """urllib3 with exactly the agent's User-Agent (tuf's own fetcher appends its own
    product token, which would break the contract's format)."""

    def __init__(self, user_agent: str, timeout: float = 30.0) -> None:
        self._pool = urllib3.PoolManager(
            headers={"User-Agent": user_agent},
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=urllib3.Retry(0, redirect=False),
        )

    def _fetch(self, url: str) -> Iterator[bytes]:
        try:
            response = self._pool.request("GET", url, preload_content=False)
        except urllib3.exceptions.HTTPError as exc:
            raise exceptions.DownloadError(f"{url}: {exc}") from exc
        if response.status >= 400:
            response.close()  # its body is unread: the connection must not be reused
            raise exceptions.DownloadHTTPError(f"{url}: HTTP {response.status}", response.status)
        return self._chunks(response)

    @staticmethod
    def _chunks(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
        complete = False
        try:
            yield from response.stream(64 * 1024)
            complete = True
        except urllib3.exceptions.HTTPError as exc:
            raise exceptions.DownloadError(str(exc)) from exc
        finally:
            # A keep-alive connection goes back to the pool only when its answer was read
            # to the end; TUF stops reading a target that exceeds its signed length.
            if complete:
                response.release_conn()
            else:
                response.close()


def trusted_root(override: Path | None) -> bytes:
    """``--root FILE`` when given (tests, recovery), else the root metadata that
    `certsight publish agent` embedded in this wheel."""
    if override is not None:
        return override.read_bytes()
    resource = resources.files("certsight_agent").joinpath(ROOT_RESOURCE)
    try:
        return resource.read_bytes()
    except (FileNotFoundError, OSError):
        raise NoTrustedRoot(
            "this agent carries no trusted root (a development install?): pass --root FILE "
            "with the repository's root metadata"
        ) from None


@dataclass(frozen=True)
class Release:
    path: str
    info: TargetFile
    custom: dict[str, Any]


class Repository:
    def __init__(self, home: AgentHome, url: str, *, user_agent: str, root: bytes) -> None:
        base = url.rstrip("/")
        home.tuf_metadata.mkdir(parents=True, exist_ok=True)
        home.tuf_targets.mkdir(parents=True, exist_ok=True)
        self._metadata_dir = home.tuf_metadata
        self._updater = Updater(
            metadata_dir=str(home.tuf_metadata),
            metadata_base_url=f"{base}/tuf/metadata/",
            target_dir=str(home.tuf_targets),
            target_base_url=f"{base}/tuf/targets/",
            fetcher=AgentFetcher(user_agent),
            config=UpdaterConfig(prefix_targets_with_hash=True),
            bootstrap=root,
        )

    def targets(self) -> list[Release]:
        """Every target of the verified top-level targets role with its signed custom
        field. ngclient has no listing call: the names come from the targets metadata
        it has just verified and written, each then looked up through the updater."""
        self._updater.refresh()
        listed = Metadata[Targets].from_file(str(self._metadata_dir / "targets.json"))
        found = []
        for path in sorted(listed.signed.targets):
            info = self._updater.get_targetinfo(path)
            if info is None:
                continue
            custom = info.custom.get("certsight") if isinstance(info.custom, dict) else None
            found.append(Release(path, info, custom if isinstance(custom, dict) else {}))
        return found

    def fetch(self, release: Release) -> Path:
        """The verified file: from the cache when its hashes match, else downloaded
        (length and hashes checked by TUF before it is written)."""
        cached = self._updater.find_cached_target(release.info)
        return Path(cached or self._updater.download_target(release.info))
