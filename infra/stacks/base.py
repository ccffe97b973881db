"""What every certsight stack is: one module's stack, named and placed from the
deployment's config, with the guardrails applied before anything else is added."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config import DeployConfig
from infra.guardrails import apply_guardrails
from infra.naming import stack_name


class ModuleStack(cdk.Stack):
    """``certsight-ENV-MODULE`` in the config's account and region, tagged, bounded and
    without IAM users (``infra.guardrails``). ``context`` sets construct context (CDK
    feature flags) for this stack only; it must be set before any child exists."""

    def __init__(
        self,
        scope: Construct,
        config: DeployConfig,
        module: str,
        description: str,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        name = stack_name(config.env_name, module)
        super().__init__(
            scope,
            name,
            stack_name=name,
            env=cdk.Environment(account=config.account, region=config.region),
            description=description,
        )
        for key, value in (context or {}).items():
            self.node.set_context(key, value)
        self.boundary: iam.ManagedPolicy = apply_guardrails(self, module)
