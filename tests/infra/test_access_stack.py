"""The access stack: only each module's GitHub environment can assume its deploy role, a
deploy role can do nothing but hand over to the CDK bootstrap roles, and the audit
trail plus its sign-in alarms exist in both kinds of deployment."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from infra.config import DeployConfig
from infra.stacks.access import AccessStack
from tests.infra.conftest import ACCOUNT, REGION, assert_every_role_bounded, resources_of, synth

MODULES = ("validation", "issuance", "publishing", "analytics")
OIDC_HOST = "token.actions.githubusercontent.com"
BOOTSTRAP_ROLE = re.compile(
    rf"^arn:\$\{{AWS::Partition\}}:iam::{ACCOUNT}:role/"
    rf"cdk-hnb659fds-(deploy|file-publishing|image-publishing|lookup)-role-{ACCOUNT}-{REGION}$"
)


@pytest.fixture(scope="module", params=["config", "bare_config"])
def synthesised(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[DeployConfig, Template]:
    """The stack for a production-like and for a bare deployment (synthesis runs
    cdk-nag: an unacknowledged finding fails here)."""
    config: DeployConfig = request.getfixturevalue(request.param)
    _, template = synth(AccessStack, config, tmp_path_factory.mktemp("access"))
    return config, template


def flat(value: Any) -> str:
    """An ARN as CloudFormation builds it, spelt out (``${AWS::Partition}``...)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return f"${{{argument}}}"
        if function == "Fn::GetAtt":
            return f"${{{argument[0]}.{argument[1]}}}"
        if function == "Fn::Join":
            return str(argument[0]).join(flat(part) for part in argument[1])
    raise AssertionError(f"unexpected intrinsic {value!r}")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def deploy_roles(template: Template) -> dict[str, tuple[str, dict[str, Any]]]:
    """module -> (logical id, role), found by the role's physical name."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for logical, role in resources_of(template, "AWS::IAM::Role").items():
        name = role["Properties"].get("RoleName", "")
        match = re.fullmatch(r"certsight-[a-z0-9-]+-deploy-([a-z]+)", str(name))
        if match:
            found[match.group(1)] = (logical, role)
    return found


def statements_of(template: Template, logical_role: str) -> list[dict[str, Any]]:
    """Every permission statement the role holds, inline or attached."""
    statements: list[dict[str, Any]] = []
    for policy in resources_of(template, "AWS::IAM::Policy").values():
        if {"Ref": logical_role} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_one_deploy_role_per_module_trusting_only_its_github_environment(
    synthesised: tuple[DeployConfig, Template],
) -> None:
    config, template = synthesised
    template.has_resource_properties(
        "AWS::IAM::OIDCProvider",
        {"Url": f"https://{OIDC_HOST}", "ClientIdList": ["sts.amazonaws.com"]},
    )
    (provider,) = resources_of(template, "AWS::IAM::OIDCProvider")
    roles = deploy_roles(template)
    assert sorted(roles) == sorted(MODULES)
    for module, (_, role) in roles.items():
        props = role["Properties"]
        assert props["RoleName"] == f"certsight-{config.env_name}-deploy-{module}"
        (trust,) = props["AssumeRolePolicyDocument"]["Statement"]  # nothing else trusted
        assert trust == {
            "Effect": "Allow",
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": {"Ref": provider}},
            "Condition": {
                "StringEquals": {
                    f"{OIDC_HOST}:aud": "sts.amazonaws.com",
                    f"{OIDC_HOST}:sub": f"repo:{config.github_repository}:environment:{module}",
                }
            },
        }
        assert "ManagedPolicyArns" not in props and "Policies" not in props
        assert props["MaxSessionDuration"] <= 3600


def test_the_subject_follows_the_configured_repository(
    config: DeployConfig, tmp_path: Path
) -> None:
    other = dataclasses.replace(config, github_repository="acme-pki/certsight")
    _, template = synth(AccessStack, other, tmp_path)
    for module in MODULES:
        template.has_resource_properties(
            "AWS::IAM::Role",
            {
                "RoleName": f"certsight-prod-deploy-{module}",
                "AssumeRolePolicyDocument": {
                    "Statement": [
                        Match.object_like(
                            {
                                "Condition": {
                                    "StringEquals": Match.object_like(
                                        {
                                            f"{OIDC_HOST}:sub": "repo:acme-pki/certsight:"
                                            f"environment:{module}"
                                        }
                                    )
                                }
                            }
                        )
                    ]
                },
            },
        )
    text = str(template.to_json())
    assert "repo:example/certsight" not in text


def test_deploy_roles_may_only_assume_the_bootstrap_roles_and_read_their_own_stack(
    synthesised: tuple[DeployConfig, Template],
) -> None:
    config, template = synthesised
    for module, (logical, _) in deploy_roles(template).items():
        assumed: set[str] = set()
        described: set[str] = set()
        others: set[str] = set()
        for statement in statements_of(template, logical):
            assert statement["Effect"] == "Allow"
            actions = as_list(statement["Action"])
            resources = [flat(r) for r in as_list(statement["Resource"])]
            if actions == ["sts:AssumeRole"]:
                assumed.update(resources)
            elif actions == ["cloudformation:DescribeStacks"]:
                described.update(resources)
            else:
                assert all(a.startswith("ecr:") for a in actions), actions
                if "*" in resources:  # the one ECR action without resource-level permissions
                    assert actions == ["ecr:GetAuthorizationToken"]
                others.update(resources)
        assert len(assumed) == 4 and all(BOOTSTRAP_ROLE.match(arn) for arn in assumed), assumed
        assert described == {
            f"arn:${{AWS::Partition}}:cloudformation:{REGION}:{ACCOUNT}:"
            f"stack/certsight-{config.env_name}-{module}/*"
        }
        if module == "analytics":
            assert others == {
                f"arn:${{AWS::Partition}}:ecr:{REGION}:{ACCOUNT}:"
                f"repository/certsight-{config.env_name}-warehouse-job",
                "*",
            }
        else:
            assert not others


def test_no_iam_user_and_every_role_bounded(synthesised: tuple[DeployConfig, Template]) -> None:
    _, template = synthesised
    assert not resources_of(template, "AWS::IAM::User")
    assert not resources_of(template, "AWS::IAM::AccessKey")
    assert_every_role_bounded(template)
    # The OIDC provider is CloudFormation's own resource: no custom-resource Lambda,
    # whose IAM calls the boundary would deny.
    assert not resources_of(template, "AWS::Lambda::Function")


def test_the_boundary_lets_the_deploy_roles_do_their_job(
    synthesised: tuple[DeployConfig, Template],
) -> None:
    """A boundary that omits sts:AssumeRole would leave the roles unable to deploy."""
    _, template = synthesised
    (boundary,) = resources_of(template, "AWS::IAM::ManagedPolicy").values()
    allowed = {
        action
        for statement in boundary["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Allow"
        for action in as_list(statement["Action"])
    }
    assert {"sts:AssumeRole", "cloudformation:DescribeStacks", "ecr:PutImage"} <= allowed


def test_the_trail_is_multi_region_validated_and_encrypted(
    synthesised: tuple[DeployConfig, Template],
) -> None:
    _, template = synthesised
    (trail,) = resources_of(template, "AWS::CloudTrail::Trail").values()
    props = trail["Properties"]
    assert props["IsMultiRegionTrail"] is True
    assert props["EnableLogFileValidation"] is True
    assert props["IncludeGlobalServiceEvents"] is True
    assert "CloudWatchLogsLogGroupArn" in props
    key_logical = props["KMSKeyId"]["Fn::GetAtt"][0]
    key = resources_of(template, "AWS::KMS::Key")[key_logical]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"
    # The key lets CloudTrail encrypt only for this account's trails.
    cloudtrail_statements = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudtrail.amazonaws.com"}
        and "kms:GenerateDataKey*" in as_list(s["Action"])
    ]
    assert cloudtrail_statements and all("Condition" in s for s in cloudtrail_statements)

    bucket_logical = props["S3BucketName"]["Ref"]
    bucket = resources_of(template, "AWS::S3::Bucket")[bucket_logical]
    bucket_props = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain"
    (encryption,) = bucket_props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": [key_logical, "Arn"]},
    }
    assert bucket_props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket_props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Mode"] == (
        "COMPLIANCE"
    )
    (rule,) = bucket_props["LifecycleConfiguration"]["Rules"]
    retained = rule["ExpirationInDays"]
    locked = bucket_props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Days"]
    assert 365 <= locked <= retained
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket_logical},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_console_sign_ins_and_root_use_page_the_topic(
    synthesised: tuple[DeployConfig, Template],
) -> None:
    config, template = synthesised
    filters = resources_of(template, "AWS::Logs::MetricFilter").values()
    patterns = " ".join(f["Properties"]["FilterPattern"] for f in filters)
    assert '$.eventName = "ConsoleLogin"' in patterns
    assert '$.userIdentity.type = "Root"' in patterns
    (trail,) = resources_of(template, "AWS::CloudTrail::Trail").values()
    log_group = trail["Properties"]["CloudWatchLogsLogGroupArn"]["Fn::GetAtt"][0]
    assert all(f["Properties"]["LogGroupName"] == {"Ref": log_group} for f in filters)

    (topic,) = resources_of(template, "AWS::SNS::Topic")
    assert "KmsMasterKeyId" in resources_of(template, "AWS::SNS::Topic")[topic]["Properties"]
    alarms = resources_of(template, "AWS::CloudWatch::Alarm").values()
    metrics = {f["Properties"]["MetricTransformations"][0]["MetricName"] for f in filters}
    assert {a["Properties"]["MetricName"] for a in alarms} == metrics
    for alarm in alarms:
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic}]
        assert alarm["Properties"]["Threshold"] == 1
    subscriptions = resources_of(template, "AWS::SNS::Subscription").values()
    if config.alarm_email:
        assert [s["Properties"]["Endpoint"] for s in subscriptions] == [config.alarm_email]
    else:
        assert not subscriptions
