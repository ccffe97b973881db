"""Which files of ours and of an installed distribution go into a zip, and which never
do: bytecode of another interpreter, our tests, dotfiles, key material."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
from collections.abc import Sequence
from pathlib import Path

from certsight.packaging.errors import DependencyError, PackagingError

_PRIVATE_KEY = re.compile(
    rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=:,\- \r\n]{16,}?-----END"
)
_OUR_TEST_NAMES = re.compile(r"(test_.*|.*_test|conftest)\.py")


def is_key_material(name: str, data: bytes) -> bool:
    """A ``*.key`` file, or any file holding a PEM private key (a signer key copied into a
    package by mistake must not reach an internet-facing function)."""
    return name.endswith(".key") or _PRIVATE_KEY.search(data) is not None


def is_bytecode(parts: Sequence[str]) -> bool:
    """Bytecode found on disk: the venv's (bound to its paths and times) or a wheel's
    own; the zip's bytecode is compiled by the build instead."""
    return "__pycache__" in parts or parts[-1].endswith((".pyc", ".pyo"))


def bytecode_name(name: str) -> str:
    """Where the bytecode of the module file ``name`` goes in the zip (PEP 3147), for
    this interpreter's version, which is the target runtime's."""
    return importlib.util.cache_from_source(name, optimization="")


def package_files(package: str) -> list[tuple[str, Path]]:
    """(name in the zip, source) for one of our packages, wherever it is imported from.

    Left out: bytecode, our own tests, dotfiles (editor and VCS leftovers).
    """
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if len(locations) != 1:
        raise PackagingError(f"package {package!r} is not importable as one folder here")
    root = Path(locations[0])
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(
            d for d in subfolders if d not in {"__pycache__", "tests", "test"} and d[0] != "."
        )
        for name in sorted(files):
            relative = (Path(folder) / name).relative_to(root)
            if name[0] == "." or is_bytecode(relative.parts) or _OUR_TEST_NAMES.fullmatch(name):
                continue
            found.append((f"{package}/{relative.as_posix()}", Path(folder) / name))
    return found


def distribution_files(dist: importlib.metadata.Distribution) -> list[tuple[str, Path]]:
    """(name in the zip, source) for an installed distribution, from its RECORD.

    Entries outside the installation folder (console scripts, data files) and bytecode
    are left out: Lambda runs no scripts, and bytecode is compiled by the build.
    """
    files = dist.files
    if files is None:
        raise DependencyError(
            f"{dist.metadata['Name']} {dist.version} has no RECORD (not installed by pip?); "
            "reinstall it with pip"
        )
    found = []
    for entry in files:
        relative = entry.as_posix()
        if relative.startswith(("../", "/")) or is_bytecode(entry.parts):
            continue
        source = Path(str(dist.locate_file(entry)))
        if not source.is_file():
            raise DependencyError(
                f"{dist.metadata['Name']} {dist.version} is damaged: {source} is in its RECORD "
                "but not on disk; reinstall it"
            )
        found.append((relative, source))
    return found
