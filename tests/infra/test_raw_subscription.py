"""The function log groups that carry records (the responder's access log, the issuance
API's events) are subscribed to RAW's Firehose by the stacks that own them, through
the analytics stack's SSM parameters, with a filter that passes records only."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from infra.config import DeployConfig
from infra.naming import LOG_DELIVERY_STREAM, LOG_SUBSCRIPTION_ROLE, log_group_name, shared
from infra.stacks.issuance import IssuanceStack
from infra.stacks.validation import ValidationStack
from tests.infra.conftest import resources_of, synth

OWNERS = {"ocsp": ValidationStack, "issuance-api": IssuanceStack}


def _parameter_names(template_json: Mapping[str, Any]) -> dict[str, str]:
    """SSM parameter names the template reads, by CloudFormation parameter id."""
    return {
        key: value["Default"]
        for key, value in template_json.get("Parameters", {}).items()
        if value.get("Type", "").startswith("AWS::SSM::Parameter::Value")
    }


@pytest.mark.parametrize("function", sorted(OWNERS))
def test_the_owner_subscribes_its_log_group_to_raw(
    function: str, config: DeployConfig, deployable_dist: Path, tmp_path: Path
) -> None:
    config = dataclasses.replace(config, dist=deployable_dist)
    _, template = synth(OWNERS[function], config, tmp_path)
    filters = list(resources_of(template, "AWS::Logs::SubscriptionFilter").values())
    assert len(filters) == 1
    properties = filters[0]["Properties"]
    groups = {
        logical: group["Properties"]["LogGroupName"]
        for logical, group in resources_of(template, "AWS::Logs::LogGroup").items()
    }
    assert groups[properties["LogGroupName"]["Ref"]] == log_group_name(config.env_name, function)
    assert properties["FilterPattern"] == '{ $.log = "*" }'
    reads = _parameter_names(template.to_json())
    assert reads[properties["DestinationArn"]["Ref"]] == shared(
        config.env_name, LOG_DELIVERY_STREAM
    )
    assert reads[properties["RoleArn"]["Ref"]] == shared(config.env_name, LOG_SUBSCRIPTION_ROLE)
