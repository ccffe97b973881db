"""``trust install``: the newest trust-store bundle of a kind and format, fetched
through TUF and written atomically to the operator's path (shared contract, points 2
and 3: the newest bundle is the one with the latest signed ``published_at``)."""

from __future__ import annotations

import logging
from pathlib import Path

from certsight_agent.fsutil import write_atomic
from certsight_agent.repository import Release, Repository

log = logging.getLogger("certsight_agent")


class NoBundle(Exception):
    pass


def newest_bundle(releases: list[Release], bundle: str, fmt: str) -> Release:
    matching = [
        r
        for r in releases
        if r.custom.get("kind") == "truststore"
        and r.custom.get("name") == bundle
        and r.custom.get("format") == fmt
        and r.path.startswith(f"truststore/{bundle}/")
    ]
    if not matching:
        raise NoBundle(f"the repository lists no {bundle} trust store in format {fmt}")
    return max(matching, key=lambda r: (str(r.custom.get("published_at", "")), r.path))


def install_bundle(repository: Repository, *, bundle: str, fmt: str, path: Path) -> str:
    """Install and return the bundle's version; a file already equal is left alone."""
    chosen = newest_bundle(repository.targets(), bundle, fmt)
    data = repository.fetch(chosen).read_bytes()
    version = str(chosen.custom.get("version", ""))
    try:
        unchanged = path.read_bytes() == data
    except OSError:
        unchanged = False
    if unchanged:
        log.debug("%s already holds %s %s", path, bundle, version)
        return version
    write_atomic(path, data, mode=0o644)
    log.info("installed trust store %s %s (%s) at %s", bundle, version, fmt, path)
    return version
