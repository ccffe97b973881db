"""The whole app: every module's stack synthesises together (``make synth``), and each
stands alone: no stack imports another's outputs, so one module's pipeline never needs
another module's stack to change."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.config import config_from_context
from infra.naming import MODULES, stack_name

REPOSITORY = Path(__file__).resolve().parents[2]


def _synth(
    outdir: Path, *context: str, modules: str | None = None
) -> subprocess.CompletedProcess[str]:
    arguments = [arg for item in context for arg in ("-c", item)]
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    env.pop("CDK_OUTDIR", None)
    env.pop("CERTSIGHT_MODULES", None)
    if modules is not None:
        env["CERTSIGHT_MODULES"] = modules
    return subprocess.run(
        [sys.executable, "-m", "infra.app", "--outdir", str(outdir), *arguments],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory, deployable_dist: Path) -> dict[str, Any]:
    outdir = tmp_path_factory.mktemp("cdk.out")
    done = _synth(outdir, f"dist={deployable_dist}", "env=prod", "domain=pki.corp.example")
    assert done.returncode == 0, done.stderr[-4000:]
    found = {}
    for module in MODULES:
        path = outdir / f"{stack_name('prod', module)}.template.json"
        assert path.is_file(), f"{path.name} missing; stdout: {done.stdout}"
        assert str(path) in done.stdout  # the command says where each template went
        found[module] = json.loads(path.read_text(encoding="utf-8"))
    return found


def test_every_module_has_its_stack_and_none_imports_another(templates: dict[str, Any]) -> None:
    assert set(templates) == set(MODULES)
    for module, template in templates.items():
        for node in _walk(template):
            assert "Fn::ImportValue" not in node, f"{module} imports another stack's export"
        exports = [o for o in template.get("Outputs", {}).values() if "Export" in o]
        assert not exports, f"{module} exports values another stack could pin"


def test_every_stack_carries_its_module_tag(templates: dict[str, Any]) -> None:
    for module, template in templates.items():
        tagged = [
            resource
            for resource in template["Resources"].values()
            if any(
                tag.get("Key") == "certsight:module" and tag.get("Value") == module
                for tag in resource.get("Properties", {}).get("Tags", [])
                if isinstance(tag, dict)
            )
        ]
        assert tagged, f"no resource of {module} is tagged with its module"


def test_missing_zips_are_named_with_the_command_that_makes_them(tmp_path: Path) -> None:
    done = _synth(tmp_path / "out", f"dist={tmp_path / 'nothing'}")
    assert done.returncode == 2
    assert "is missing: run `make package`" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_pipeline_builds_only_its_own_stack_from_only_its_own_zip(
    tmp_path: Path, dist: Path
) -> None:
    """A module's deploy job downloads its own zip only: the other stacks are not built,
    so their missing zips do not matter."""
    only = tmp_path / "dist"
    only.mkdir()
    shutil.copy(dist / "publishing.zip", only / "publishing.zip")
    done = _synth(tmp_path / "out", f"dist={only}", modules="publishing")
    assert done.returncode == 0, done.stderr[-4000:]
    assert sorted(p.name for p in (tmp_path / "out").glob("*.template.json")) == [
        f"{stack_name('prod', 'publishing')}.template.json"
    ]
    refused = _synth(tmp_path / "out2", f"dist={only}", modules="publishing,billing")
    assert refused.returncode == 2
    assert "CERTSIGHT_MODULES names unknown module(s) ['billing']" in refused.stderr


def test_a_bad_setting_stops_synthesis_before_any_stack(tmp_path: Path) -> None:
    done = _synth(tmp_path / "out", "hosted_zone=Z1")
    assert done.returncode == 2
    assert "unknown deployment setting(s) ['hosted_zone']" in done.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("*.template.json"))


def test_cdk_json_holds_only_settings_the_app_knows() -> None:
    """cdk.json is what `cdk deploy` reads: a misspelt key there would be refused at
    deploy time, so it is refused here first."""
    settings = json.loads((REPOSITORY / "cdk.json").read_text(encoding="utf-8"))
    assert settings["app"].endswith("-m infra.app")
    config = config_from_context(settings["context"], base=REPOSITORY)
    assert config.dist == REPOSITORY / "dist"  # where `make package` writes the zips
