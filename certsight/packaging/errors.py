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
