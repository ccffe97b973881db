"""The import arrows between modules (shared/design/ARCHITECTURE.md), as import-linter
contracts in ``.importlinter``: the code keeps them, and a forbidden import breaks them.

The second half matters as much as the first: a contract that names a package wrongly,
or a check that reads the installed code instead of the code under test, would pass
forever. So the packages are copied, one forbidden import is added to the copy, and the
same contracts must fail there, naming that arrow and no other.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".importlinter"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
NOT_CHECKED = {"tests", "bench"}  # they may import anything
RESULT = re.compile(r"^(?P<name>.+) (?P<verdict>KEPT|BROKEN)$", re.MULTILINE)


def contracts() -> dict[str, str]:
    """Contract id -> the name lint-imports prints."""
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    prefix = "importlinter:contract:"
    return {s.removeprefix(prefix): parser[s]["name"] for s in parser if s.startswith(prefix)}


def root_packages() -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    return parser["importlinter"]["root_packages"].split()


def lint(where: Path) -> tuple[int, str, dict[str, str]]:
    """Exit code, output, and each contract's verdict by name."""
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(CONFIG)],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    verdicts = {m["name"]: m["verdict"] for m in RESULT.finditer(output)}
    return done.returncode, output, verdicts


def test_the_code_keeps_every_import_arrow() -> None:
    code, output, verdicts = lint(ROOT)
    assert code == 0, output
    assert verdicts == dict.fromkeys(contracts().values(), "KEPT"), output


def test_every_top_level_package_is_checked() -> None:
    """A new package outside the contracts would escape every arrow."""
    on_disk = {
        p.parent.name
        for p in ROOT.glob("*/__init__.py")
        if p.parent.name not in NOT_CHECKED and not p.parent.name.startswith(".")
    }
    assert on_disk == set(root_packages())


@dataclass(frozen=True)
class Violation:
    contract: str  # id in .importlinter
    module: str  # a new module in the copy, dotted
    source: str
    arrow: str  # how lint-imports names the forbidden import


VIOLATIONS = [
    Violation(
        "pki-imports-nothing-of-ours", "pki.violation", "import responders\n", "-> responders"
    ),
    Violation(
        "services-do-not-import-each-other",
        "responders.violation",
        "from issuance import lambda_handler\n",
        "-> issuance",
    ),
    Violation(
        "intelligence-does-not-import-services",
        "ingest.violation",
        "import publishing\n",
        "-> publishing",
    ),
    Violation(
        "only-certsight-imports-simulator",
        "warehouse.violation",
        # a function-level import: lazy imports count too
        "def later() -> None:\n    import simulator\n",
        "-> simulator",
    ),
    Violation(
        "product-does-not-import-certsight",
        "issuance.violation",
        "from certsight import cli\n",  # cli imports nothing of ours at load (settings would
        # also reach publishing.settings, breaking the services contract too)
        "-> certsight",
    ),
    Violation(
        "intelligence-packages-are-independent",
        "dashboards.violation",
        "from warehouse import reading\n",
        "-> warehouse",
    ),
]


def copy_checked_packages(target: Path) -> None:
    """The Python files of every checked package; data files do not make imports."""

    def not_python(folder: str, names: list[str]) -> list[str]:
        return [
            n
            for n in names
            if n == "__pycache__" or ((Path(folder) / n).is_file() and not n.endswith(".py"))
        ]

    for package in root_packages():
        shutil.copytree(ROOT / package, target / package, ignore=not_python)


@pytest.mark.parametrize("violation", VIOLATIONS, ids=lambda v: v.contract)
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, violation: Violation) -> None:
    copy_checked_packages(tmp_path)
    module_file = tmp_path.joinpath(*violation.module.split(".")).with_suffix(".py")
    module_file.write_text(f'"""A forbidden arrow, on purpose."""\n\n{violation.source}')

    code, output, verdicts = lint(tmp_path)
    broken = contracts()[violation.contract]
    assert code != 0, output
    assert verdicts == {
        name: "BROKEN" if name == broken else "KEPT" for name in contracts().values()
    }, output
    assert f"{violation.module} {violation.arrow}" in output, output
