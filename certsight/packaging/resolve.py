"""A unit's third-party closure, resolved against the venv's installed distributions.

The venv is where the tests ran, so its versions are the ones a zip must hold: the
closure found here is what pip then installs for the Lambda platform, pinned with ``==``.
The walk also records every requirement met on the way (who wants which range of
what), because a distribution whose venv version has no wheel for Lambda may fall back
to an older one only within all of them; and :func:`unmet_requirements` checks the set
pip finally installed against its own metadata, as ``pip check`` would.
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from certsight.packaging.errors import DependencyError
from certsight.packaging.units import RUNTIME_PROVIDED

# The project's own distribution: its metadata is pyproject.toml's dependencies.
PROJECT: Final = "certsight"


@dataclass(frozen=True)
class Wanted:
    """A requirement on a bundled distribution met in the walk, and who made it."""

    requirement: Requirement
    by: str  # "the ingest unit", "pandas 2.3.3"

    def describe(self) -> str:
        return f"{self.requirement.name}{self.requirement.specifier or ''} ({self.by})"


@dataclass(frozen=True)
class Closure:
    """The installed distributions a unit needs, split by who provides them in Lambda.

    Two closures are equal when they hold the same distributions; the requirements
    recorded on the way (``wanted``, ``declared``) are bookkeeping for a fallback and
    for checking what pip installed, and take no part in the comparison.
    """

    bundled: tuple[importlib.metadata.Distribution, ...]
    runtime_provided: tuple[importlib.metadata.Distribution, ...]
    wanted: tuple[tuple[NormalizedName, Wanted], ...] = field(default=(), compare=False)
    declared: tuple[Requirement, ...] = field(default=(), compare=False)  # the unit's own
    wanted_by: str = field(default="the unit", compare=False)

    def pins(self) -> tuple[str, ...]:
        """``name==version`` of every bundled distribution, in name order: exactly what
        the tests ran against, for pip to fetch built for the Lambda platform."""
        return tuple(f"{name_of(d)}=={d.version}" for d in self.bundled)

    def wanted_on(self, name: str) -> list[Wanted]:
        """Every requirement on ``name`` met in the closure's walk."""
        key = canonicalize_name(name)
        return [wanted for on, wanted in self.wanted if on == key]

    def specifier_for(self, name: str) -> SpecifierSet:
        """The versions of ``name`` that every requirement on it in the closure accepts."""
        combined = SpecifierSet()
        for wanted in self.wanted_on(name):
            combined &= wanted.requirement.specifier
        return combined


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


def project_specifiers(environment: Mapping[str, str] | None = None) -> dict[str, SpecifierSet]:
    """The version range the project declares for each dependency (pyproject.toml's
    ``dependencies``, read from the installed ``certsight`` distribution's metadata,
    markers judged for ``environment``): what our code is written for, and so a bound
    that a fallback to an older version must respect as much as the unit table's."""
    try:
        texts = importlib.metadata.requires(PROJECT) or []
    except importlib.metadata.PackageNotFoundError:
        raise DependencyError(
            f"{PROJECT} is not installed in {sys.prefix}, so the version ranges of "
            "pyproject.toml are unknown; install the project (make package does) and build "
            "again"
        ) from None
    found: dict[str, SpecifierSet] = {}
    for text in texts:
        requirement = Requirement(text)
        if _applies(requirement, (), environment or {}):
            name = canonicalize_name(requirement.name)
            found[name] = found.get(name, SpecifierSet()) & requirement.specifier
    return found


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
    project: Mapping[str, SpecifierSet] | None = None,
) -> Closure:
    """The transitive closure of installed distributions behind ``requirements``.

    Markers are evaluated with ``environment`` over this interpreter's own values (the
    Lambda target's, so that a build for arm64 follows arm64 markers). Runtime-provided
    distributions end the walk: what they need, the runtime provides too. An unmet
    version constraint or a missing distribution is an error naming both ends, since a
    zip built anyway would fail only at its first cold start in AWS. ``project`` (see
    :func:`project_specifiers`) narrows each of ``requirements`` to the range the
    project declares for it: the unit table names what a unit needs, pyproject.toml
    which versions of it the code supports.
    """
    environment = environment or {}
    try:
        declared = [Requirement(text) for text in requirements]
    except InvalidRequirement as exc:
        raise DependencyError(f"{wanted_by}: {exc}") from None
    for requirement in declared:
        declared_range = (project or {}).get(canonicalize_name(requirement.name))
        if declared_range is not None:
            requirement.specifier &= declared_range
    applying = [r for r in declared if _applies(r, (), environment)]
    pending = [(r, wanted_by) for r in applying]
    bundled: dict[NormalizedName, importlib.metadata.Distribution] = {}
    provided: dict[NormalizedName, importlib.metadata.Distribution] = {}
    extras_done: dict[NormalizedName, set[str]] = {}
    wanted: list[tuple[NormalizedName, Wanted]] = []
    while pending:
        requirement, parent = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in RUNTIME_PROVIDED:
            if name not in provided:
                provided[name] = _installed(Requirement(requirement.name), parent)
            continue
        wanted.append((name, Wanted(requirement, parent)))
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
        tuple(bundled[n] for n in sorted(bundled)),
        tuple(provided[n] for n in sorted(provided)),
        wanted=tuple(dict.fromkeys(wanted)),  # a revisit for new extras repeats some
        declared=tuple(applying),
        wanted_by=wanted_by,
    )


def unmet_requirements(
    dists: Sequence[importlib.metadata.Distribution],
    declared: Iterable[Requirement],
    wanted_by: str,
    environment: Mapping[str, str],
) -> list[str]:
    """What ``pip check`` would say of ``dists`` as one installation, one line each.

    Every requirement of ``declared`` (the unit's own) and of each distribution's own
    metadata, markers judged for ``environment`` with the extras asked of it anywhere
    in the set, must be met by a distribution of the set, in an accepted version.
    Requirements on what the Lambda runtime provides are the runtime's to meet, as in
    :func:`resolve`. The metadata read is the installed one, so a distribution that
    fell back to an older version is judged by what that version requires.
    """
    installed = {name_of(d): d for d in dists}
    edges: list[tuple[NormalizedName | None, str, Requirement]] = [
        (None, wanted_by, requirement) for requirement in declared
    ]
    for name, dist in installed.items():
        for text in dist.requires or []:
            edges.append((name, f"{name} {dist.version}", Requirement(text)))
    extras: dict[NormalizedName | None, set[str]] = {None: set()}
    changed = True
    while changed:  # extras switch on requirements that may ask for more extras
        changed = False
        for parent, _, requirement in edges:
            child = canonicalize_name(requirement.name)
            asked = {canonicalize_name(e) for e in requirement.extras}
            if not _applies(requirement, extras.get(parent, ()), environment):
                continue
            if not asked <= extras.setdefault(child, set()):
                extras[child] |= asked
                changed = True
    problems = []
    for parent, who, requirement in edges:
        child = canonicalize_name(requirement.name)
        if child in RUNTIME_PROVIDED or not _applies(
            requirement, extras.get(parent, ()), environment
        ):
            continue
        met_by = installed.get(child)
        if met_by is None:
            problems.append(f"{who} requires {requirement.name}, which is not in the unit")
        elif not requirement.specifier.contains(Version(met_by.version), prereleases=True):
            problems.append(
                f"{who} requires {requirement.name}{requirement.specifier}, "
                f"but {child} {met_by.version} is in the unit"
            )
    return problems
