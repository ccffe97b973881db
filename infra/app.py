"""The CDK app: every module's stack, each deployable alone (``cdk deploy STACK``).

Run by the CDK CLI through cdk.json (``cdk deploy certsight-prod-validation``), or
directly: ``python -m infra.app`` (``make synth``) writes every stack's CloudFormation
template under ``infra/cdk.out/`` with no CLI and no AWS account, cdk-nag's checks
included: a finding nobody acknowledged stops the synthesis.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from infra.assets import AssetError
from infra.config import CONTEXT_KEYS, ConfigError, DeployConfig, config_from_context
from infra.guardrails import enable_nag
from infra.naming import MODULES
from infra.stacks.access import AccessStack
from infra.stacks.analytics import AnalyticsStack
from infra.stacks.issuance import IssuanceStack
from infra.stacks.publishing import PublishingStack
from infra.stacks.validation import ValidationStack

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_OUTDIR = REPOSITORY / "infra" / "cdk.out"

# In deployment order for a first install: analytics holds RAW (where the others log),
# validation the certificate table, issuance reads both; access (the pipelines' roles
# and the audit trail) is deployed once by hand-free bootstrap, first of all.
STACKS: dict[str, Callable[[cdk.App, DeployConfig], cdk.Stack]] = {
    "access": AccessStack,
    "analytics": AnalyticsStack,
    "validation": ValidationStack,
    "issuance": lambda app, config: IssuanceStack(
        app,
        config,
        private_ca_arns=config.private_ca_arns,
        ca_ceremony_role_arns=config.ca_ceremony_role_arns,
        pki_bundle=bundle if (bundle := config.pki_bundle("issuance")).is_dir() else None,
    ),
    "publishing": PublishingStack,
}


# A pipeline deploys one module and downloads only that module's zip: it names its
# module here (comma-separated), so the other stacks, whose zips it lacks, are not built.
MODULES_ENV = "CERTSIGHT_MODULES"


def selected_modules(value: str | None) -> tuple[str, ...]:
    """The modules named by ``CERTSIGHT_MODULES`` (all when unset or empty)."""
    if not value or not value.strip():
        return MODULES
    names = tuple(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))
    unknown = [name for name in names if name not in MODULES]
    if unknown:
        raise ConfigError(f"{MODULES_ENV} names unknown module(s) {unknown}: choose from {MODULES}")
    return names


def build_app(
    config: DeployConfig, app: cdk.App, modules: Sequence[str] = MODULES
) -> list[cdk.Stack]:
    """The stacks of ``modules`` in ``config``'s environment, cdk-nag's checks on."""
    enable_nag(app)
    return [factory(app, config) for module, factory in STACKS.items() if module in modules]


def _context(under_cli: bool, extra: dict[str, str]) -> dict[str, Any]:
    """Every context value, so that unknown keys are seen and refused: the CDK CLI hands
    over what it merged (cdk.json, cdk.context.json, ``-c``) in ``CDK_CONTEXT_JSON``;
    run directly, cdk.json's context is the base and ``-c`` overrides it."""
    if under_cli:
        merged: dict[str, Any] = json.loads(os.environ.get("CDK_CONTEXT_JSON") or "{}")
    else:
        cdk_json = REPOSITORY / "cdk.json"
        merged = json.loads(cdk_json.read_text(encoding="utf-8")).get("context", {})
    return {**merged, **extra}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.app", description="Synthesise certsight's CDK stacks."
    )
    parser.add_argument("--outdir", type=Path, default=None, help="default infra/cdk.out")
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"a deployment setting ({', '.join(CONTEXT_KEYS)}); repeatable",
    )
    args = parser.parse_args(argv)
    extra: dict[str, str] = {}
    for item in args.context:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"-c {item!r}: use KEY=VALUE")
        extra[key] = value
    under_cli = "CDK_OUTDIR" in os.environ  # the CDK CLI gives its own outdir and context
    outdir = None if under_cli else str(args.outdir or DEFAULT_OUTDIR)
    context = _context(under_cli, extra)
    app = cdk.App(outdir=outdir, context=context or None)
    try:
        config = config_from_context(context, base=Path.cwd())
        stacks = build_app(config, app, selected_modules(os.environ.get(MODULES_ENV)))
        app.synth()
    except (ConfigError, AssetError) as exc:
        print(f"infra: {exc}", file=sys.stderr)
        return 2
    if not under_cli:
        for stack in stacks:
            print(f"{stack.stack_name}: {Path(str(app.outdir)) / stack.template_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
