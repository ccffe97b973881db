"""The agent is a distribution of its own: it imports the standard library, its three
dependencies and itself, nothing of the certsight repository (which its hosts lack)."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

AGENT = Path(__file__).resolve().parents[2] / "agent"
ALLOWED = {"cryptography", "tuf", "urllib3", "certsight_agent"}


def imported_roots(source: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_agent_imports_only_the_stdlib_and_its_three_dependencies() -> None:
    sources = sorted((AGENT / "certsight_agent").glob("*.py"))
    assert len(sources) > 10
    foreign = {
        f"{source.name}: {root}"
        for source in sources
        for root in imported_roots(source) - ALLOWED
        if root not in sys.stdlib_module_names and root != "__future__"
    }
    assert not foreign


def test_the_distribution_declares_only_those_dependencies() -> None:
    project = tomllib.loads((AGENT / "pyproject.toml").read_text())["project"]
    names = {
        dep.split(">")[0].split("=")[0].split("[")[0].strip() for dep in project["dependencies"]
    }
    assert names == {"cryptography", "tuf", "urllib3"}
    assert project["name"] == "certsight-agent"
    assert project["scripts"] == {"certsight-agent": "certsight_agent.launcher:main"}


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import pki.keys\nfrom issuance import service\nfrom . import x\n")
    assert imported_roots(bad) == {"pki", "issuance"}
