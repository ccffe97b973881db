"""Deployable units: one AWS Lambda zip per service module (``certsight package``).

Each unit ships its own package(s), ``pki/`` and the third-party distributions they
need, and nothing else: a change to one module must never redeploy, or even be inside,
another module's zip (docs/deployment.md).

How a zip is made, module by module:

- ``units``: the unit table and what the Lambda runtime provides (never bundled);
- ``resolve``: a unit's third-party closure, found among the venv's installed
  distributions, so that the zip holds the versions the tests ran against;
- ``target``: the Lambda runtime and architecture, and which wheels load there;
- ``install``: that closure installed again by pip as wheels for the Lambda platform
  (the venv's compiled wheels may need a newer glibc than the runtime has), and
  bytecode compiled ahead for every module (Lambda's code folder is read-only);
- ``fallback``: for a distribution whose venv version has no such wheel, the newest
  older version that has one and that every requirement on it accepts, chosen by pip;
- ``files`` and ``archive``: what goes in, what never does (key material among it),
  and the reproducible zip with its manifest;
- ``build``: all of it for one unit or several.

Packaging is a build step: it needs the package index pip is configured with, or a
wheelhouse, but nothing of it runs in the product.
"""

from __future__ import annotations

from certsight.packaging.archive import LAMBDA_UNZIPPED_LIMIT, MANIFEST_NAME, content_sha256
from certsight.packaging.build import BuiltUnit, UnitsFailed, build_unit, build_units
from certsight.packaging.errors import (
    DependencyError,
    InstallError,
    NoMatchingWheel,
    PackagingError,
    UnknownUnitError,
)
from certsight.packaging.fallback import Fallback, fallback_requirement, install_with_fallbacks
from certsight.packaging.files import (
    bytecode_name,
    distribution_files,
    is_key_material,
    package_files,
)
from certsight.packaging.install import Staging, compile_bytecode, pip_command, verify_installed
from certsight.packaging.resolve import (
    Closure,
    project_specifiers,
    resolve,
    unmet_requirements,
)
from certsight.packaging.target import (
    LAMBDA_RUNTIMES,
    MANYLINUX_POLICY,
    LambdaTarget,
    compatibility_problems,
    glibc_needed,
    lambda_target,
    wheel_tags,
)
from certsight.packaging.units import RUNTIME_PROVIDED, UNITS, Unit, selected_units

__all__ = [
    "LAMBDA_RUNTIMES",
    "LAMBDA_UNZIPPED_LIMIT",
    "MANIFEST_NAME",
    "MANYLINUX_POLICY",
    "RUNTIME_PROVIDED",
    "UNITS",
    "BuiltUnit",
    "Closure",
    "DependencyError",
    "Fallback",
    "InstallError",
    "LambdaTarget",
    "NoMatchingWheel",
    "PackagingError",
    "Staging",
    "Unit",
    "UnitsFailed",
    "UnknownUnitError",
    "build_unit",
    "build_units",
    "bytecode_name",
    "compatibility_problems",
    "compile_bytecode",
    "content_sha256",
    "distribution_files",
    "fallback_requirement",
    "glibc_needed",
    "install_with_fallbacks",
    "is_key_material",
    "lambda_target",
    "package_files",
    "pip_command",
    "project_specifiers",
    "resolve",
    "selected_units",
    "unmet_requirements",
    "verify_installed",
    "wheel_tags",
]
