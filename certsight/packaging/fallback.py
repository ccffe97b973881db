"""When the venv's version of a distribution has no wheel for Lambda: the newest that does.

A zip should hold the versions the tests ran with, and does whenever they publish a
wheel for the Lambda platform. Some do not: numpy 2.4 and pyarrow 26 build their Linux
wheels for glibc 2.27/2.28 only, newer than the python3.11 runtime's. For such a
distribution alone, the build falls back to the newest older version that has one and
that every requirement on it in the unit's closure accepts: the unit's own (with the
range pyproject.toml declares) and the other members' (for the Lambda target's
markers), and never one newer than the venv's.

pip does the choosing: the build asks it again for ``name<=venv_version,<the ranges>``
instead of ``name==venv_version``, and pip takes the newest version with a wheel for
the platform, from the same index or wheelhouse. Nothing here reads an index. The
installer is a parameter, so that the choice can be tested without pip; what pip
installed is then checked as a whole (:func:`certsight.packaging.resolve.unmet_requirements`).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from certsight.packaging.errors import InstallError, NoMatchingWheel
from certsight.packaging.resolve import Closure, name_of
from certsight.packaging.target import MANYLINUX_POLICY

# Installs exactly these requirements (pip's syntax) for the target, or raises:
# NoMatchingWheel when one of them has no wheel, InstallError for anything else.
Installer = Callable[[Sequence[str]], None]
Notes = Callable[[str], None]

_SHOWN_VERSIONS = 8  # of pip's "from versions:" list, the newest, in a message


@dataclass(frozen=True)
class Fallback:
    """A distribution bundled in another version than the venv's, and why."""

    name: NormalizedName
    venv_version: str
    requirement: Requirement  # what pip was asked for instead of name==venv_version
    reason: str  # for the manifest: "no manylinux2014 wheel for 2.4.6"
    wanted: tuple[str, ...]  # the requirements whose ranges bound the choice, described
    bundled_version: str = ""  # what pip chose, once installed

    def describe(self) -> str:
        """One line for an operator: what is bundled instead of what, and why."""
        within = f"; the newest with one within {self.requirement.specifier}"
        if self.wanted:
            within += f", from {', '.join(self.wanted)}"
        return (
            f"{self.name} {self.bundled_version or '?'} bundled, not the venv's "
            f"{self.venv_version} ({self.reason}{within})"
        )


def fallback_requirement(closure: Closure, name: str, venv_version: str) -> Requirement:
    """``name`` within every range the closure puts on it, and no newer than the venv's."""
    specifier = closure.specifier_for(name) & SpecifierSet(f"<={venv_version}")
    return Requirement(f"{canonicalize_name(name)}{specifier}")


def _seen(versions: Sequence[str]) -> str:
    shown = ", ".join(versions[-_SHOWN_VERSIONS:])
    return f"..., {shown}" if len(versions) > _SHOWN_VERSIONS else shown


def _none_fits(unit: str, fallback: Fallback, missing: NoMatchingWheel, where: str) -> InstallError:
    """Neither the venv's version nor any the fallback may take has a wheel."""
    name = fallback.name
    bounds = f", from {', '.join(fallback.wanted)}" if fallback.wanted else ""
    seen = (
        f"pip saw wheels of {name} {_seen(missing.versions_seen)} only"
        if missing.versions_seen
        else f"pip saw no {name} wheel at all"
    )
    return InstallError(
        f"{unit}: {name} {fallback.venv_version} (the venv's) has no {MANYLINUX_POLICY} "
        f"wheel in {where}, and neither has any older version within "
        f"{fallback.requirement.specifier}{bounds} ({seen}); test with a version that "
        f"publishes one, or choose another runtime\n{missing}"
    )


def install_with_fallbacks(
    unit: str,
    closure: Closure,
    install: Installer,
    notes: Notes,
    where: str = "the package index",
    reason_suffix: str = "",
) -> tuple[dict[NormalizedName, Requirement], dict[NormalizedName, Fallback]]:
    """Install the closure's pins, falling back, one distribution at a time, for each
    pin that has no wheel for the platform; returns what was finally asked for (by
    name) and the fallbacks.

    pip names one requirement it cannot satisfy per attempt, so a closure with ``n``
    such pins takes ``n + 1`` attempts; each attempt is complete (``install`` starts
    from an empty folder). No fallback is tried when pip saw no version at all (the
    index out of reach, or a project without a single such wheel): the error stays
    pip's. When even the range has no wheel, the error names the distribution, the
    venv's version and every requirement that bounds the range.
    """
    asked = {name_of(d): Requirement(f"{name_of(d)}=={d.version}") for d in closure.bundled}
    venv = {name_of(d): d.version for d in closure.bundled}
    fallbacks: dict[NormalizedName, Fallback] = {}
    while True:
        try:
            install([str(requirement) for requirement in asked.values()])
        except NoMatchingWheel as missing:
            name = canonicalize_name(Requirement(missing.requirement).name)
            if name in fallbacks:
                raise _none_fits(unit, fallbacks[name], missing, where) from missing
            if name not in asked or missing.unreachable or not missing.versions_seen:
                raise
            requirement = fallback_requirement(closure, name, venv[name])
            fallbacks[name] = Fallback(
                name=name,
                venv_version=venv[name],
                requirement=requirement,
                reason=f"no {MANYLINUX_POLICY} wheel for {venv[name]}{reason_suffix}",
                wanted=tuple(
                    w.describe() for w in closure.wanted_on(name) if w.requirement.specifier
                ),
            )
            asked[name] = requirement
            notes(
                f"{unit}: {name} {venv[name]} (the venv's) has no {MANYLINUX_POLICY} wheel "
                f"in {where}; pip chooses the newest {requirement} that has one"
            )
            continue
        return asked, fallbacks


def with_bundled_versions(
    unit: str,
    dists: Sequence[importlib.metadata.Distribution],
    fallbacks: Mapping[NormalizedName, Fallback],
) -> tuple[Fallback, ...]:
    """The fallbacks, in name order, with the versions pip installed for them: each
    must be older than the venv's (pip was asked for no newer, and the venv's own had
    no wheel), or the build stops with an :class:`InstallError`."""
    versions = {name_of(d): d.version for d in dists}
    done = []
    for name, fallback in sorted(fallbacks.items()):
        chosen = versions.get(name)
        if chosen is None or Version(chosen) >= Version(fallback.venv_version):
            raise InstallError(
                f"{unit}: pip installed {name} {chosen or 'not at all'} for "
                f"{fallback.requirement}, not a version older than the venv's "
                f"{fallback.venv_version}"
            )
        done.append(dataclasses.replace(fallback, bundled_version=chosen))
    return tuple(done)
