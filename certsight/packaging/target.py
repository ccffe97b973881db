"""The Lambda platform a zip is built for, and whether installed wheels load there.

A zip's compiled code binds it to a Python minor version, a CPU and a C library. The
Python version is the building interpreter's (its bytecode and the ``cpXY`` wheels must
match the runtime); the CPU is chosen (``--arch``); the C library is the one of the
runtime's operating system, and every wheel must need no newer glibc than that.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from packaging.tags import parse_tag

from certsight.packaging.errors import PackagingError

# The managed Python runtimes and the C library their operating system has: a compiled
# wheel tagged manylinux_2_N loads only where glibc is at least 2.N.
LAMBDA_RUNTIMES: Final[Mapping[str, tuple[str, tuple[int, int]]]] = {
    "python3.11": ("Amazon Linux 2", (2, 26)),
    "python3.12": ("Amazon Linux 2023", (2, 34)),
    "python3.13": ("Amazon Linux 2023", (2, 34)),
}

# Lambda's name for an architecture -> the machine name in wheel tags and PEP 508 markers.
LAMBDA_ARCHITECTURES: Final[Mapping[str, str]] = {"x86_64": "x86_64", "aarch64": "arm64"}
MACHINES: Final[Mapping[str, str]] = {lam: machine for machine, lam in LAMBDA_ARCHITECTURES.items()}

# The wheels pip is asked for: manylinux2014 (glibc 2.17) loads in every Lambda Python
# runtime (Amazon Linux 2 has 2.26, Amazon Linux 2023 2.34), so one policy serves all of
# them and a zip never depends on which runtime generation the function is moved to.
MANYLINUX_POLICY: Final = "manylinux2014"

_MANYLINUX = re.compile(r"manylinux_(\d+)_(\d+)_(\w+)")
_LEGACY_MANYLINUX: Final[Mapping[str, tuple[int, int]]] = {
    "manylinux1": (2, 5),
    "manylinux2010": (2, 12),
    "manylinux2014": (2, 17),
}


def glibc_needed(platform_tag: str) -> tuple[tuple[int, int], str] | None:
    """(glibc version, machine) a manylinux platform tag promises to need at most; None
    for any other platform (pure ``any``, musllinux, macOS, Windows)."""
    if match := _MANYLINUX.fullmatch(platform_tag):
        return (int(match[1]), int(match[2])), match[3]
    policy, _, machine = platform_tag.partition("_")
    if policy in _LEGACY_MANYLINUX and machine:
        return _LEGACY_MANYLINUX[policy], machine
    return None


@dataclass(frozen=True)
class LambdaTarget:
    """Runtime and architecture of the function a zip is for."""

    runtime: str  # the function's Runtime setting, e.g. python3.11
    architecture: str  # the function's Architectures setting: x86_64 or arm64
    python_version: str  # major.minor, what pip's --python-version takes

    @property
    def machine(self) -> str:
        return MACHINES[self.architecture]

    @property
    def platform_tag(self) -> str:
        return f"{MANYLINUX_POLICY}_{self.machine}"

    @property
    def glibc(self) -> tuple[int, int]:
        """The newest glibc a wheel may need: the policy's, never above the runtime's."""
        policy = _LEGACY_MANYLINUX[MANYLINUX_POLICY]
        known = LAMBDA_RUNTIMES.get(self.runtime)
        return min(policy, known[1]) if known else policy

    def marker_environment(self) -> dict[str, str]:
        """PEP 508 marker values of the Lambda runtime, where they differ from the build
        machine's: a zip built on a Mac or for arm64 must follow Linux/arm64 markers."""
        return {
            "os_name": "posix",
            "sys_platform": "linux",
            "platform_system": "Linux",
            "platform_machine": self.machine,
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
        }

    def describe(self) -> str:
        return f"{self.runtime} {self.architecture} ({self.platform_tag})"


def lambda_target(architecture: str = "x86_64") -> LambdaTarget:
    """The target for this interpreter's Python version: bytecode and ``cpXY`` wheels
    load only in the same minor version, so the runtime follows the building venv."""
    if architecture not in MACHINES:
        raise PackagingError(
            f"Lambda has no {architecture} architecture: choose {' or '.join(MACHINES)}"
        )
    if sys.implementation.name != "cpython":
        raise PackagingError(
            f"Lambda runs CPython; this is {sys.implementation.name}: build from a CPython venv"
        )
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return LambdaTarget(f"python{version}", architecture, version)


def wheel_tags(dist: importlib.metadata.Distribution) -> list[str]:
    """The compatibility tags the distribution's wheel was built for (its WHEEL file)."""
    text = dist.read_text("WHEEL") or ""
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")]


def runtime_warnings(target: LambdaTarget) -> list[str]:
    """What cannot be verified about the target: a runtime this table does not know."""
    if target.runtime in LAMBDA_RUNTIMES:
        return []
    return [f"{target.runtime} is not among the Lambda runtimes this build knows"]


def compatibility_problems(
    dists: Iterable[importlib.metadata.Distribution], target: LambdaTarget
) -> list[str]:
    """Why installed wheels would not load in the target runtime, one line each (none
    when every wheel is pure Python or manylinux for the target's CPU and glibc)."""
    problems = []
    need_at_most = target.glibc
    known = LAMBDA_RUNTIMES.get(target.runtime)
    where = f"the {target.runtime} runtime ({known[0]})" if known else target.runtime
    for dist in dists:
        label = f"{dist.metadata['Name']} {dist.version}"
        tags = [tag for text in wheel_tags(dist) for tag in parse_tag(text)]
        if not tags:
            problems.append(f"{label} has no wheel tags (not installed from a wheel?)")
            continue
        platforms = {tag.platform for tag in tags}
        if platforms == {"any"}:
            continue
        if any(p.startswith("musllinux") for p in platforms):
            problems.append(f"{label} is built for musl; Lambda uses glibc")
            continue
        needs = [n for p in platforms if (n := glibc_needed(p)) is not None]
        fitting = [version for version, machine in needs if machine == target.machine]
        if not fitting:
            problems.append(
                f"{label} is built for {', '.join(sorted(platforms))}, "
                f"not for Linux {target.machine} ({target.architecture})"
            )
        elif (need := min(fitting)) > need_at_most:
            problems.append(
                f"{label} needs glibc {need[0]}.{need[1]}; {where} allows at most "
                f"{need_at_most[0]}.{need_at_most[1]} ({target.platform_tag})"
            )
    return problems
