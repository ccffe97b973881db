"""Synthesis of the CDK stacks, offline: Node runs the CDK library through jsii, no CDK
CLI, no Docker, no AWS account. The Lambda assets are the real unit zips, built once per
session (tests/conftest.py's ``built``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from certsight.packaging import BuiltUnit
from infra.config import DeployConfig
from tests.conftest import PkiHome

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk
from aws_cdk.assertions import Template

from infra.guardrails import enable_nag

ACCOUNT = "111122223333"
REGION = "eu-west-1"
CDN_CERTIFICATE = (
    f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/0f0e0d0c-1111-2222-3333-444455556666"
)
REGIONAL_CERTIFICATE = (
    f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/0a0b0c0d-1111-2222-3333-444455556666"
)


@pytest.fixture(scope="session")
def dist(built: dict[str, BuiltUnit]) -> Path:
    """The folder holding validation.zip, issuance.zip, publishing.zip and ingest.zip."""
    folders = {b.path.parent for b in built.values()}
    assert len(folders) == 1
    return folders.pop()


@pytest.fixture(scope="session")
def deployable_dist(
    dist: Path, pki_home: PkiHome, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """What a pipeline has before it synthesises: the zips and the PKI bundles
    (``DIST/<unit>-pki``), here from the session's test CA (whose CA keys are in the
    folder, as in a real home: the stacks must never take them)."""
    folder = tmp_path_factory.mktemp("deployable-dist")
    for zipped in dist.glob("*.zip"):
        (folder / zipped.name).symlink_to(zipped)
    shutil.copytree(pki_home.pki, folder / "validation-pki")
    (folder / "publishing-pki").mkdir()
    for name in ("root-ca.pem", "issuing-ca.pem"):
        shutil.copy(pki_home.pki / name, folder / "publishing-pki" / name)
    return folder


@pytest.fixture(scope="session")
def config(dist: Path) -> DeployConfig:
    """A production-like environment: custom names, a hosted zone, alarm e-mail."""
    return DeployConfig(
        env_name="prod",
        account=ACCOUNT,
        region=REGION,
        domain="pki.example.com",
        hosted_zone_id="Z0123456789ABCDEFGHIJ",
        cdn_certificate_arn=CDN_CERTIFICATE,
        regional_certificate_arn=REGIONAL_CERTIFICATE,
        dist=dist,
        github_repository="example/certsight",
        alarm_email="pki-oncall@example.com",
    )


@pytest.fixture(scope="session")
def bare_config(dist: Path) -> DeployConfig:
    """The least a deployment is given: no names, no zone, no certificates."""
    return DeployConfig(account=ACCOUNT, region=REGION, dist=dist)


StackFactory = Callable[[cdk.App, DeployConfig], cdk.Stack]


def synth(factory: StackFactory, config: DeployConfig, outdir: Path) -> tuple[cdk.Stack, Template]:
    """Build one stack in a fresh app with cdk-nag on, and its template (synthesis raises
    on any unacknowledged AwsSolutions finding)."""
    app = cdk.App(outdir=str(outdir))
    enable_nag(app)
    stack = factory(app, config)
    return stack, Template.from_stack(stack)


def resources_of(template: Template, kind: str) -> dict[str, Any]:
    """Every resource of a CloudFormation type, by logical id (for iterating, never for
    asserting on the ids themselves)."""
    return dict(template.find_resources(kind))


def assert_every_role_bounded(template: Template) -> None:
    """The guardrail: every IAM role the stack creates carries the permissions boundary."""
    roles = resources_of(template, "AWS::IAM::Role")
    assert roles, "the stack creates no role at all"
    unbounded = [
        logical
        for logical, role in roles.items()
        if "PermissionsBoundary" not in role["Properties"]
    ]
    assert not unbounded, f"roles without the permissions boundary: {unbounded}"
