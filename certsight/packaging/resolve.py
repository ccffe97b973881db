"""A unit's third-party closure, resolved against the venv's installed distributions.

The venv is where the tests ran, so its versions are the ones a zip must hold: the
closure found here is what pip then installs for the Lambda platform, pinned with ``==``.
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from certsight.packaging.errors import DependencyError
from certsight.packaging.units import RUNTIME_PROVIDED


@dataclass(frozen=True)
class Closure:
    """The installed distributions a unit needs, split by who provides them in Lambda."""

    bundled: tuple[importlib.metadata.Distribution, ...]
    runtime_provided: tuple[importlib.metadata.Distribution, ...]

    def pins(self) -> tuple[str, ...]:
        """``name==version`` of every bundled distribution, in name order: exactly what
        the tests ran against, for pip to fetch built for the Lambda platform."""
        return tuple(f"{name_of(d)}=={d.version}" for d in self.bundled)


def name_of(dist: importlib.metadata.Distribution) -> NormalizedName:
    return canonicalize_name(dist.metadata["Name"])


def _installed(requirement: Requirement, wanted_by: str) -> importlib.metadata.Distribution:
    try:
        dist = importlib.metadata.distribution(requirement.name)
    except importlib.metadata.PackageNotFoundError:
        raise DependencyError(
            f"{requirement.name} (required by {wanted_by}) is not installed in {sys.prefix}; "
            "install the project (make package does) and build again"
        ) from None
    try:
        version = Version(dist.version)
    except InvalidVersion:
        raise DependencyError(
            f"{requirement.name} has an invalid version {dist.version!r}"
        ) from None
    if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
        raise DependencyError(
            f"{requirement.name} {dist.version} is installed, but {wanted_by} requires "
            f"{requirement.name}{requirement.specifier}"
        )
    return dist


def _applies(
    requirement: Requirement, extras: Iterable[str], environment: Mapping[str, str]
) -> bool:
    """A requirement's marker, judged for the target environment (over this
    interpreter's values) with each extra the parent was asked for."""
    if requirement.marker is None:
        return True
    return any(
        requirement.marker.evaluate({**environment, "extra": extra}) for extra in ("", *extras)
    )


def resolve(
    requirements: Iterable[str],
    wanted_by: str = "the unit",
    environment: Mapping[str, str] | None = None,
) -> Closure:
    """The transitive closure of installed distributions behind ``requirements``.

    Markers are evaluated with ``environment`` over this interpreter's own values (the
    Lambda target's, so that a build for arm64 follows arm64 markers). Runtime-provided
    distributions end the walk: what they need, the runtime provides too. An unmet
    version constraint or a missing distribution is an error naming both ends, since a
    zip built anyway would fail only at its first cold start in AWS.
    """
    environment = environment or {}
    try:
        declared = [Requirement(text) for text in requirements]
    except InvalidRequirement as exc:
        raise DependencyError(f"{wanted_by}: {exc}") from None
    pending = [(r, wanted_by) for r in declared if _applies(r, (), environment)]
    bundled: dict[NormalizedName, importlib.metadata.Distribution] = {}
    provided: dict[NormalizedName, importlib.metadata.Distribution] = {}
    extras_done: dict[NormalizedName, set[str]] = {}
    while pending:
        requirement, parent = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in RUNTIME_PROVIDED:
            if name not in provided:
                provided[name] = _installed(Requirement(requirement.name), parent)
            continue
        extras = {canonicalize_name(extra) for extra in requirement.extras}
        done = extras_done.get(name)
        if done is not None and extras <= done:
            if requirement.specifier:
                _installed(requirement, parent)  # the version still has to fit this parent
            continue
        dist = _installed(requirement, parent)
        bundled[name] = dist
        extras_done[name] = (done or set()) | extras
        for text in dist.requires or []:
            child = Requirement(text)
            if _applies(child, extras_done[name], environment):
                pending.append((child, f"{name} {dist.version}"))
    return Closure(
        tuple(bundled[n] for n in sorted(bundled)), tuple(provided[n] for n in sorted(provided))
    )
