"""What ``certsight publish ...`` does, one method per subcommand: turn a trust store, an
agent wheel, a promotion or a set of documents into signed targets of the repository.

Paths and the clock are given (``served``: the folder ``serve publishing`` serves;
``keys``: the TUF key folder, outside it), nothing here reads settings or the
environment. Targets are the signed truth; the plain copies written beside them
(``/truststore/roots.pem``, ``/docs/agent.md``) are conveniences for curl users and
carry no authority.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from pki.store.objects import FolderObjectStore, ObjectStoreError
from publishing import scripts
from publishing.keys import KeyFileError, KeyFolder
from publishing.releases import (
    AGENT_DIST,
    AGENT_NAME,
    ReleaseError,
    agent_custom,
    agent_path,
    check_channel,
    check_rollout,
    check_version,
    describe,
    find_release,
    script_custom,
    script_path,
    truststore_path,
)
from publishing.repository import NewTarget, Published, Repository, RepositoryError
from publishing.truststore import MEDIA_TYPES, BundleFiles, Format, build_bundles, opens_with
from publishing.wheel import WheelError, embed_root, wheel_metadata

_DIST_NAMES = {AGENT_DIST, AGENT_NAME}
_FAILURES = (RepositoryError, KeyFileError, ObjectStoreError, OSError)


class PublishingError(RuntimeError):
    """Publishing refused or failed; the message says what to fix."""


@dataclass(frozen=True)
class Publisher:
    served: Path  # HOME/publish
    keys: Path  # HOME/publishing/keys
    channels: Sequence[str]
    base_url: str
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @property
    def repository(self) -> Repository:
        return Repository(self.served / "tuf", KeyFolder(self.keys), clock=self.clock)

    def initialise(self) -> bool:
        """The repository and its keys, unless they exist (returns whether made)."""
        try:
            return self.repository.initialise()
        except _FAILURES as exc:
            raise PublishingError(str(exc)) from exc

    # -- trust stores ------------------------------------------------------------
    def truststore(
        self, certificates: Sequence[x509.Certificate], *, password: str
    ) -> list[Published]:
        """Each bundle's four files as targets of its content version, a manifest and
        plain copies under ``/truststore/``; a version already published is only
        re-signed when its bytes differ (a new password)."""
        self.initialise()
        bundles = build_bundles(certificates, password=password)
        now = self.clock().isoformat()
        new = [
            NewTarget(
                truststore_path(b.bundle.value, b.version, b.file_name(fmt)),
                data,
                {
                    "kind": "truststore",
                    "name": b.bundle.value,
                    "version": b.version,
                    "format": fmt.value,
                    "published_at": now,
                },
            )
            for b in bundles
            for fmt, data in b.files.items()
        ]
        listed = {p.path: p for p in self._targets()}
        new = [
            n
            for n in new
            if not (
                n.custom["format"] == Format.P12.value
                and n.path in listed
                and opens_with(self._read(listed[n.path]), password)
            )
        ]  # a PKCS#12 is salted afresh each time: keep the one that opens with this password
        self._add_changed(new)
        after = {p.path: p for p in self._targets()}
        published = []
        for bundle in bundles:
            files = {}
            for fmt in bundle.files:
                target = after[
                    truststore_path(bundle.bundle.value, bundle.version, bundle.file_name(fmt))
                ]
                published.append(target)
                files[fmt] = self._read(target)
            self._copies(bundle, files)
        return published

    def _copies(self, bundle: BundleFiles, files: Mapping[Format, bytes]) -> None:
        """Plain copies of the signed files, and the bundle's manifest (of those bytes)."""
        store = FolderObjectStore(self.served / "truststore")
        described = BundleFiles(bundle.bundle, bundle.version, bundle.certificates, dict(files))
        try:
            for fmt, data in files.items():
                store.put(bundle.file_name(fmt), data, MEDIA_TYPES[fmt])
            store.put(
                f"{bundle.bundle.value}.manifest.json", described.manifest(), "application/json"
            )
        except ObjectStoreError as exc:
            raise PublishingError(str(exc)) from exc

    # -- agent releases ----------------------------------------------------------
    def agent(self, wheel: bytes, *, channel: str, rollout: int) -> list[Published]:
        """Release a built wheel on ``channel`` with the current root embedded, and the
        channel's scripts for it. Refuses a version the channel already has (publish a
        new version; change a rollout with ``rollout``)."""
        check_channel(channel, self.channels)
        check_rollout(rollout)
        self.initialise()
        try:
            name, version = wheel_metadata(wheel)
            check_version(version)
            if name.replace("-", "_").lower() not in {n.replace("-", "_") for n in _DIST_NAMES}:
                raise PublishingError(f"the wheel is {name}, not {AGENT_NAME}")
            embedded = embed_root(wheel, self.repository.root_bytes())
        except (WheelError, ReleaseError) as exc:
            raise PublishingError(str(exc)) from exc
        existing = self._targets()
        if any(p.path == agent_path(channel, version) for p in existing):
            raise PublishingError(
                f"{AGENT_NAME} {version} is already on {channel}: publish a new version, "
                "or change its rollout with `certsight publish rollout`"
            )
        return self._release(embedded, version, channel, rollout)

    def _release(self, wheel: bytes, version: str, channel: str, rollout: int) -> list[Published]:
        path = agent_path(channel, version)
        [released] = self._add(
            [NewTarget(path, wheel, agent_custom(version, channel, rollout, self.clock()))]
        )
        rendered = scripts.render(
            scripts.ReleaseInfo(channel, version, released.url_path, released.sha256, self.base_url)
        )
        made = self._add(
            [
                NewTarget(script_path(channel, name), data, script_custom(name, version, channel))
                for name, data in rendered.items()
            ]
        )
        return [released, *made]

    def promote(
        self, version: str, *, source: str, destination: str, rollout: int = 100
    ) -> list[Published]:
        """The very wheel of ``version`` on ``source`` released on ``destination``."""
        check_channel(source, self.channels)
        check_channel(destination, self.channels)
        if source == destination:
            raise PublishingError("promote between two different channels")
        try:
            release = find_release(self._targets(), source, version)
        except ReleaseError as exc:
            raise PublishingError(str(exc)) from exc
        if any(p.path == agent_path(destination, version) for p in self._targets()):
            raise PublishingError(f"{AGENT_NAME} {version} is already on {destination}")
        wheel = self._read(release)
        return self._release(wheel, version, destination, check_rollout(rollout))

    def rollout(self, version: str, *, channel: str, rollout: int) -> Published:
        """Change a release's rollout percent (re-signed; the wheel stays)."""
        check_channel(channel, self.channels)
        try:
            release = find_release(self._targets(), channel, version)
            custom = {**release.custom, "rollout": check_rollout(rollout)}
            return self.repository.set_custom(release.path, custom)
        except (ReleaseError, *_FAILURES) as exc:
            raise PublishingError(str(exc)) from exc

    # -- documents -----------------------------------------------------------------
    def docs(self, pages: Mapping[str, bytes]) -> list[Published]:
        """Documentation pages as targets ``docs/{name}`` (version: their content's
        SHA-256, first 16 hex), and plain copies at ``/docs/{name}``."""
        self.initialise()
        now = self.clock().isoformat()
        new = [
            NewTarget(
                f"docs/{name}",
                data,
                {
                    "kind": "doc",
                    "name": name,
                    "version": hashlib.sha256(data).hexdigest()[:16],
                    "published_at": now,
                },
            )
            for name, data in sorted(pages.items())
        ]
        published = self._add_changed(new)
        store = FolderObjectStore(self.served / "docs")
        try:
            for name, data in pages.items():
                store.put(name, data, "text/markdown")
        except ObjectStoreError as exc:
            raise PublishingError(str(exc)) from exc
        return published

    # -- reading and upkeep ------------------------------------------------------
    def status(self) -> list[Mapping[str, Any]]:
        """Every published target: kind, name, version, channel, URL path (and more);
        then the CA certificates of ``/ca/`` (the caIssuers files, outside TUF)."""
        listed = [describe(p) for p in self._targets()]
        for path in sorted((self.served / "ca").glob("*.crt")):
            data = path.read_bytes()
            listed.append(
                {
                    "kind": "ca-certificate",
                    "name": path.stem,
                    "version": None,
                    "channel": None,
                    "format": "der",
                    "rollout": None,
                    "target": None,
                    "url_path": f"/ca/{path.name}",
                    "bytes": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            )
        return listed

    def refresh(self, *, force: bool = False) -> list[str]:
        try:
            return self.repository.refresh(force=force)
        except _FAILURES as exc:
            raise PublishingError(str(exc)) from exc

    def _read(self, published: Published) -> bytes:
        return (self.served / published.url_path.lstrip("/")).read_bytes()

    def _targets(self) -> list[Published]:
        try:
            return self.repository.targets()
        except _FAILURES as exc:
            raise PublishingError(str(exc)) from exc

    def _add(self, new: Sequence[NewTarget]) -> list[Published]:
        try:
            return self.repository.add(new)
        except _FAILURES as exc:
            raise PublishingError(str(exc)) from exc

    def _add_changed(self, new: Sequence[NewTarget]) -> list[Published]:
        """Add only targets whose bytes differ from what is listed (idempotent runs
        sign nothing new); returns every target asked for, as listed afterwards."""
        listed = {p.path: p for p in self._targets()}
        changed = [
            n
            for n in new
            if n.path not in listed or listed[n.path].sha256 != hashlib.sha256(n.data).hexdigest()
        ]
        self._add(changed)
        after = {p.path: p for p in self._targets()}
        return [after[n.path] for n in new]
