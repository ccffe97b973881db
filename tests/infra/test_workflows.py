"""The pipelines: one GitHub Actions workflow per module, triggered only by what that
module is built from, deploying only its own stack, through its own GitHub environment
and OIDC, never with an AWS key."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.naming import MODULES, stack_name, warehouse_repository_name
from infra.stacks.access import deploy_role_name

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
ENV = "prod"  # the environment the pipelines deploy
DEPLOYED = ("validation", "issuance", "publishing", "analytics")
# The module whose stack each workflow file deploys or checks.
WORKFLOW_OF = {module: f"{module}.yml" for module in DEPLOYED} | {"access": "infra.yml"}
UNIT_OF = {
    "validation": "validation",
    "issuance": "issuance",
    "publishing": "publishing",
    "analytics": "ingest",
}
# Files of each module's own code and tests (they must trigger its workflow, no other's).
OWN_FILES = {
    "validation": [
        "responders/ocsp/core.py",
        "responders/lambda_handler.py",
        "tests/responders/test_lambda.py",
    ],
    "issuance": ["issuance/api/app.py", "issuance/crl_updater.py", "tests/issuance/test_api.py"],
    "publishing": [
        "publishing/tuf.py",
        "agent/certsight_agent/update.py",
        "tests/publishing/test_repository.py",
        "tests/agent/test_update.py",
    ],
    "analytics": [
        "ingest/schema.py",
        "warehouse/models/marts/fact.sql",
        "dashboards/pages/cyber.py",
        "infra/warehouse-job/Dockerfile",
        "tests/warehouse/test_build.py",
        "tests/dashboards/test_pages.py",
    ],
}
SUITE_OF = {
    "validation": "tests/responders",
    "issuance": "tests/issuance",
    "publishing": "tests/publishing",
    "analytics": "tests/warehouse",
}
# Files every deployed module is built from.
SHARED_FILES = ["pki/serials.py", "infra/config.py", "certsight/packaging/units.py"]
ACTION_PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
ACCESS_KEY = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")


@cache
def workflow(name: str) -> dict[Any, Any]:
    loaded = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), name
    return loaded


def triggers(flow: dict[Any, Any]) -> dict[str, Any]:
    """``on:`` (YAML 1.1 reads the bare key as the boolean true)."""
    found = flow.get("on", flow.get(True))
    assert isinstance(found, dict)
    return found


def glob_regex(pattern: str) -> re.Pattern[str]:
    """GitHub's path filter syntax: ``**`` crosses folders, ``*`` and ``?`` do not."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def triggered(flow: dict[Any, Any], path: str) -> dict[str, bool]:
    """Whether a change to ``path`` runs the workflow, per event (push, pull_request)."""
    result = {}
    for event in ("push", "pull_request"):
        patterns = triggers(flow)[event]["paths"]
        assert not any(p.startswith("!") for p in patterns), "no negations: keep it readable"
        result[event] = any(glob_regex(p).fullmatch(path) for p in patterns)
    return result


def runs_of(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in job["steps"])


def test_every_stack_module_has_a_workflow() -> None:
    assert set(WORKFLOW_OF) == set(MODULES)
    for name in WORKFLOW_OF.values():
        assert (WORKFLOWS / name).is_file(), name


def test_the_glob_matcher_follows_github_semantics() -> None:
    assert glob_regex("infra/*.py").fullmatch("infra/config.py")
    assert not glob_regex("infra/*.py").fullmatch("infra/stacks/validation.py")
    assert glob_regex("pki/**").fullmatch("pki/store/sqlite.py")
    assert not glob_regex("pki/**").fullmatch("pkix/a.py")


@pytest.mark.parametrize("module", DEPLOYED)
def test_runs_on_push_to_main_and_on_pull_requests(module: str) -> None:
    on = triggers(workflow(WORKFLOW_OF[module]))
    assert set(on) == {"push", "pull_request"}
    assert on["push"]["branches"] == ["main"]
    assert on["push"]["paths"] == on["pull_request"]["paths"]


@pytest.mark.parametrize("module", DEPLOYED)
def test_paths_cover_the_module_and_exclude_the_others(module: str) -> None:
    flow = workflow(WORKFLOW_OF[module])
    for path in [
        *OWN_FILES[module],
        *SHARED_FILES,
        f"infra/stacks/{module}.py",
        f".github/workflows/{module}.yml",
    ]:
        assert all(triggered(flow, path).values()), f"{module} ignores {path}"
    for other in DEPLOYED:
        if other == module:
            continue
        for path in [
            *OWN_FILES[other],
            f"infra/stacks/{other}.py",
            f".github/workflows/{other}.yml",
        ]:
            assert not any(triggered(flow, path).values()), f"{module} runs for {path}"
    # Nobody deploys because the access stack or a document changed.
    for path in ["infra/stacks/access.py", "docs/deploy.md", "README.md", "bench/ocsp_bench.py"]:
        assert not any(triggered(flow, path).values()), f"{module} runs for {path}"


@pytest.mark.parametrize("module", DEPLOYED)
def test_tests_and_packages_its_own_unit(module: str) -> None:
    jobs = workflow(WORKFLOW_OF[module])["jobs"]
    assert {"test", "package", "deploy"} <= set(jobs)
    tested = runs_of(jobs["test"])
    assert "pytest" in tested and "tests/pki" in tested and "tests/infra" in tested
    assert SUITE_OF[module] in tested
    assert not any(suite in tested for other, suite in SUITE_OF.items() if other != module)
    packaged = runs_of(jobs["package"])
    unit = UNIT_OF[module]
    assert re.search(rf"certsight package {unit}\b", packaged), packaged
    others = set(UNIT_OF.values()) - {unit}
    assert not any(re.search(rf"certsight package .*\b{o}\b", packaged) for o in others)
    uploads = [s for s in jobs["package"]["steps"] if "upload-artifact" in s.get("uses", "")]
    assert [s["with"]["path"] for s in uploads] == [f"dist/{unit}.zip"]


@pytest.mark.parametrize("module", DEPLOYED)
def test_deploy_uses_oidc_its_environment_and_only_its_own_stack(module: str) -> None:
    flow = workflow(WORKFLOW_OF[module])
    deploy = flow["jobs"]["deploy"]
    assert {"test", "package"} <= set(deploy["needs"])
    assert "github.ref == 'refs/heads/main'" in deploy["if"]
    assert "github.event_name == 'push'" in deploy["if"]
    environment = deploy["environment"]
    assert (environment if isinstance(environment, str) else environment["name"]) == module
    assert deploy["permissions"] == {"id-token": "write", "contents": "read"}
    assert flow["permissions"] == {"contents": "read"}  # no other job gets a token

    (credentials,) = [
        s for s in deploy["steps"] if "configure-aws-credentials" in s.get("uses", "")
    ]
    role = credentials["with"]["role-to-assume"]
    assert re.fullmatch(r"\$\{\{ vars\.[A-Z0-9_]+ \}\}", role), role
    assert module.upper() in role
    assert set(credentials["with"]) <= {
        "role-to-assume",
        "role-session-name",
        "role-duration-seconds",
        "aws-region",
    }

    commands = runs_of(deploy)
    deploys = re.findall(r"aws-cdk@2 deploy ([^\n]*)", commands)
    assert len(deploys) == 1, deploys
    own = stack_name(ENV, module)
    assert deploys[0].split()[0] == own
    assert set(re.findall(r"certsight-[a-z0-9]+-[a-z]+\b", deploys[0])) == {own}
    assert "--all" not in commands and "--require-approval never" in commands
    assert f"-c env={ENV}" in commands
    # Only this module's stack is built by the app (the other units' zips are absent).
    (built,) = [
        s["env"]["CERTSIGHT_MODULES"] for s in deploy["steps"] if "aws-cdk@2" in s.get("run", "")
    ]
    assert built == module
    assert deploy_role_name(ENV, module) in (WORKFLOWS / WORKFLOW_OF[module]).read_text()


def test_analytics_pushes_the_warehouse_image_tagged_with_the_commit() -> None:
    deploy = workflow("analytics.yml")["jobs"]["deploy"]
    steps = deploy["steps"]
    commands = runs_of(deploy)
    assert "docker build --file infra/warehouse-job/Dockerfile" in commands
    assert '-c warehouse_image_tag="$GITHUB_SHA"' in commands
    repositories = {s["env"]["REPOSITORY"] for s in steps if "REPOSITORY" in (s.get("env") or {})}
    assert repositories == {warehouse_repository_name(ENV)}
    deploy_at = next(i for i, s in enumerate(steps) if "aws-cdk@2 deploy" in s.get("run", ""))
    pushes = [i for i, s in enumerate(steps) if "docker push" in s.get("run", "")]
    # Before the deployment whenever the repository exists; after it only the first time.
    assert any(i < deploy_at and "== 'true'" in steps[i]["if"] for i in pushes)
    assert all(i < deploy_at or "!= 'true'" in steps[i]["if"] for i in pushes)


def test_no_pipeline_deploys_the_access_stack() -> None:
    flow = workflow("infra.yml")
    for job in flow["jobs"].values():
        assert "id-token" not in (job.get("permissions") or {})
        assert "aws-cdk@2 deploy" not in runs_of(job)
        assert "configure-aws-credentials" not in str(job)
    assert "id-token" not in (flow.get("permissions") or {})


@pytest.mark.parametrize("name", sorted(WORKFLOW_OF.values()))
def test_no_aws_keys_and_pinned_actions(name: str) -> None:
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    assert not ACCESS_KEY.search(text)
    lowered = text.lower()
    for forbidden in ("aws_secret_access_key", "aws-secret-access-key", "aws-access-key-id"):
        assert forbidden not in lowered, forbidden
    # AWS access comes from OIDC and variables; the one secret is the module's PKI bundle
    # (an environment secret: certificates, and validation's delegated OCSP signer).
    assert set(re.findall(r"secrets\.[A-Za-z0-9_]+", text)) <= {"secrets.CERTSIGHT_PKI_BUNDLE"}
    for job in workflow(name)["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert ACTION_PINNED.match(step["uses"]), step["uses"]
