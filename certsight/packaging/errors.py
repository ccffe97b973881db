"""What can go wrong in a build, as exceptions whose message alone tells the operator
what to fix: ``certsight package`` prints it and exits 1."""

from __future__ import annotations


class PackagingError(Exception):
    """A unit cannot be built; the message says which unit, file or distribution."""


class UnknownUnitError(PackagingError):
    """A unit name that is not in the unit table (refused before anything is built)."""


class DependencyError(PackagingError):
    """A required distribution is missing, damaged, or of a version that does not fit."""


class InstallError(PackagingError):
    """pip could not install a unit's third-party closure for the Lambda platform, or
    installed something other than what was asked for."""


class NoMatchingWheel(InstallError):
    """pip found no wheel for the target platform that satisfies ``requirement``.

    ``versions_seen`` are the versions pip did find wheels for (its "from versions:"
    list; empty when it saw none at all, as when the index is out of reach), so that a
    pinned version without a wheel can fall back to an older one only when there are
    any to choose from.
    """

    def __init__(
        self, message: str, requirement: str, versions_seen: tuple[str, ...], unreachable: bool
    ) -> None:
        super().__init__(message)
        self.requirement = requirement
        self.versions_seen = versions_seen
        self.unreachable = unreachable
