"""The publishing stack: a private bucket only its CloudFront distribution reads, logs to
RAW, a scheduled function that writes the CA certificates from a layer holding no key,
and a pipeline role that GitHub's main branch or publishing environment alone assumes.

Synthesised offline with cdk-nag on, for a production-like configuration (custom names,
hosted zone) and a bare one; the CA certificates come from a real CA home whose folder
also holds the CA keys, so the layer test proves the keys are left out."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Capture, Match, Template

from infra.assets import AssetError
from infra.config import DeployConfig
from infra.constructs.pki_layers import PKI_DIR, stage_ca_certificates
from infra.naming import CDN_LOG_BUCKET, PUBLISHING_BUCKET, function_name, shared
from infra.stacks.publishing import CA_CERTIFICATE_FOLDER, PublishingStack
from tests.conftest import PkiHome
from tests.infra.conftest import ACCOUNT, assert_every_role_bounded, resources_of, synth

OIDC = "token.actions.githubusercontent.com"


@dataclasses.dataclass(frozen=True)
class Synthesised:
    config: DeployConfig
    stack: cdk.Stack
    template: Template
    outdir: Path

    @property
    def json(self) -> dict[str, Any]:
        return dict(self.template.to_json())


def with_ca_certificates(
    config: DeployConfig, pki_home: PkiHome, folder: Path, *, keys: bool = True
) -> DeployConfig:
    """``config`` with a dist folder holding publishing.zip and a CA certificate folder
    copied from a real CA home: its certificates and, with ``keys``, its CA keys too."""
    folder.mkdir(parents=True)
    (folder / "publishing.zip").symlink_to(config.dist / "publishing.zip")
    certificates = folder / CA_CERTIFICATE_FOLDER
    certificates.mkdir()
    for file in pki_home.pki.iterdir():
        if file.suffix == ".pem" or (keys and file.suffix == ".key"):
            shutil.copy(file, certificates / file.name)
    return dataclasses.replace(config, dist=folder)


@pytest.fixture(scope="module", params=["config", "bare_config"])
def synthesised(
    request: pytest.FixtureRequest, pki_home: PkiHome, tmp_path_factory: pytest.TempPathFactory
) -> Synthesised:
    base: DeployConfig = request.getfixturevalue(request.param)
    root = tmp_path_factory.mktemp(f"publishing-{request.param}")
    config = with_ca_certificates(base, pki_home, root / "dist")
    stack, template = synth(PublishingStack, config, root / "cdk.out")
    return Synthesised(config, stack, template, root / "cdk.out")


def the_one(template: Template, kind: str) -> tuple[str, dict[str, Any]]:
    found = resources_of(template, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return next(iter(found.items()))


def statements_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document["Statement"]
    return list(statements) if isinstance(statements, list) else [statements]


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def role_statements(template: Template, role_logical: str) -> list[dict[str, Any]]:
    """Every statement that grants ``role_logical`` anything: its inline policies, the
    AWS::IAM::Policy resources attached to it, and managed policies it lists."""
    role = resources_of(template, "AWS::IAM::Role")[role_logical]["Properties"]
    found = [s for p in role.get("Policies", []) for s in statements_of(p["PolicyDocument"])]
    for policy in resources_of(template, "AWS::IAM::Policy").values():
        if {"Ref": role_logical} in policy["Properties"].get("Roles", []):
            found.extend(statements_of(policy["Properties"]["PolicyDocument"]))
    managed = resources_of(template, "AWS::IAM::ManagedPolicy")
    for arn in role.get("ManagedPolicyArns", []):
        assert isinstance(arn, dict) and "Ref" in arn, f"an AWS managed policy is attached: {arn}"
        found.extend(statements_of(managed[arn["Ref"]]["Properties"]["PolicyDocument"]))
    return found


def role_trusting(template: Template, principal: dict[str, Any]) -> str:
    """The logical id of the one role whose trust names ``principal`` (to look it up,
    never to assert on)."""
    found = [
        logical
        for logical, role in resources_of(template, "AWS::IAM::Role").items()
        if any(
            statement.get("Principal") == principal
            for statement in statements_of(role["Properties"]["AssumeRolePolicyDocument"])
        )
    ]
    assert len(found) == 1, f"roles trusting {principal}: {found}"
    return found[0]


def bucket_ref(template: Template) -> dict[str, str]:
    logical, _ = the_one(template, "AWS::S3::Bucket")
    return {"Ref": logical}


def bucket_arn(template: Template) -> dict[str, list[str]]:
    logical, _ = the_one(template, "AWS::S3::Bucket")
    return {"Fn::GetAtt": [logical, "Arn"]}


def function_logical(template: Template) -> str:
    return the_one(template, "AWS::Lambda::Function")[0]


# -- the bucket ----------------------------------------------------------------------
def test_bucket_is_versioned_encrypted_private_and_retained(synthesised: Synthesised) -> None:
    template = synthesised.template
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": Match.object_like(
                {
                    "VersioningConfiguration": {"Status": "Enabled"},
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                        ]
                    },
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True,
                        "RestrictPublicBuckets": True,
                    },
                }
            ),
        },
    )


def test_noncurrent_versions_expire_after_a_month(synthesised: Synthesised) -> None:
    _, bucket = the_one(synthesised.template, "AWS::S3::Bucket")
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = [
        r for r in rules if r.get("Status") == "Enabled" and "NoncurrentVersionExpiration" in r
    ]
    assert [r["NoncurrentVersionExpiration"]["NoncurrentDays"] for r in expiring] == [30]
    # Current objects never expire: the site is what publish sync put there.
    assert not any("ExpirationInDays" in r for r in rules)


def test_bucket_policy_refuses_requests_without_tls(synthesised: Synthesised) -> None:
    synthesised.template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": bucket_ref(synthesised.template),
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                "Principal": {"AWS": "*"},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_only_this_distribution_may_read_the_bucket(synthesised: Synthesised) -> None:
    template = synthesised.template
    _, policy = the_one(template, "AWS::S3::BucketPolicy")
    distribution, _ = the_one(template, "AWS::CloudFront::Distribution")
    allows = [
        s for s in statements_of(policy["Properties"]["PolicyDocument"]) if s["Effect"] == "Allow"
    ]
    assert len(allows) == 1
    allow = allows[0]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert as_list(allow["Action"]) == ["s3:GetObject"]
    source = allow["Condition"]["StringEquals"]["AWS:SourceArn"]
    # arn:aws:cloudfront::ACCOUNT:distribution/<this distribution's id>
    assert {"Ref": distribution} in source["Fn::Join"][1]


def test_the_origin_uses_origin_access_control(synthesised: Synthesised) -> None:
    template = synthesised.template
    oac, _ = the_one(template, "AWS::CloudFront::OriginAccessControl")
    template.has_resource_properties(
        "AWS::CloudFront::OriginAccessControl",
        {
            "OriginAccessControlConfig": Match.object_like(
                {"OriginAccessControlOriginType": "s3", "SigningBehavior": "always"}
            )
        },
    )
    _, distribution = the_one(template, "AWS::CloudFront::Distribution")
    (origin,) = distribution["Properties"]["DistributionConfig"]["Origins"]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac, "Id"]}
    assert origin["DomainName"] == {
        "Fn::GetAtt": [bucket_ref(template)["Ref"], "RegionalDomainName"]
    }
    # No origin path: the bucket root is the site root that publish sync fills.
    assert origin.get("OriginPath", "") == ""


def test_bucket_name_is_shared_through_ssm(synthesised: Synthesised) -> None:
    synthesised.template.has_resource_properties(
        "AWS::SSM::Parameter",
        {
            "Name": shared(synthesised.config.env_name, PUBLISHING_BUCKET),
            "Value": bucket_ref(synthesised.template),
        },
    )


# -- the distribution ----------------------------------------------------------------
def test_cloudfront_logs_go_to_the_cdn_log_bucket_under_the_publishing_prefix(
    synthesised: Synthesised,
) -> None:
    template = synthesised.template
    parameters = template.to_json()["Parameters"]
    ssm = [
        name
        for name, parameter in parameters.items()
        if parameter.get("Default") == shared(synthesised.config.env_name, CDN_LOG_BUCKET)
    ]
    assert len(ssm) == 1, "the CDN log bucket's name is not read from SSM"
    assert parameters[ssm[0]]["Type"] == "AWS::SSM::Parameter::Value<String>"
    logging = Capture()
    template.has_resource_properties(
        "AWS::CloudFront::Distribution",
        {"DistributionConfig": Match.object_like({"Logging": logging})},
    )
    assert logging.as_object()["Prefix"] == "cloudfront/publishing/"
    assert logging.as_object()["IncludeCookies"] is False
    # <bucket>.s3.<region>.amazonaws.com, the bucket being the SSM parameter's value
    bucket = json.dumps(logging.as_object()["Bucket"])
    assert json.dumps({"Ref": ssm[0]}) in bucket
    assert ".s3." in bucket


def test_viewers_get_and_head_over_https_only(synthesised: Synthesised) -> None:
    synthesised.template.has_resource_properties(
        "AWS::CloudFront::Distribution",
        {
            "DistributionConfig": Match.object_like(
                {
                    "DefaultCacheBehavior": Match.object_like(
                        {
                            "AllowedMethods": ["GET", "HEAD"],
                            "CachedMethods": ["GET", "HEAD"],
                            "ViewerProtocolPolicy": "redirect-to-https",
                        }
                    ),
                    "CacheBehaviors": Match.absent(),
                }
            )
        },
    )


def test_the_cache_honours_the_objects_cache_control(synthesised: Synthesised) -> None:
    template = synthesised.template
    policy, _ = the_one(template, "AWS::CloudFront::CachePolicy")
    template.has_resource_properties(
        "AWS::CloudFront::CachePolicy",
        {
            "CachePolicyConfig": Match.object_like(
                {
                    "MinTTL": 0,
                    "ParametersInCacheKeyAndForwardedToOrigin": Match.object_like(
                        {
                            "HeadersConfig": {"HeaderBehavior": "none"},
                            "CookiesConfig": {"CookieBehavior": "none"},
                            "QueryStringsConfig": {"QueryStringBehavior": "none"},
                        }
                    ),
                }
            )
        },
    )
    _, cache = the_one(template, "AWS::CloudFront::CachePolicy")
    ttl = cache["Properties"]["CachePolicyConfig"]
    assert ttl["MaxTTL"] >= 31536000  # publish sync's immutable objects: a year
    assert ttl["DefaultTTL"] <= 300  # objects without Cache-Control change in place
    template.has_resource_properties(
        "AWS::CloudFront::Distribution",
        {
            "DistributionConfig": Match.object_like(
                {"DefaultCacheBehavior": Match.object_like({"CachePolicyId": {"Ref": policy}})}
            )
        },
    )


def test_missing_files_are_cached_briefly(synthesised: Synthesised) -> None:
    _, distribution = the_one(synthesised.template, "AWS::CloudFront::Distribution")
    errors = distribution["Properties"]["DistributionConfig"]["CustomErrorResponses"]
    assert {e["ErrorCode"]: e["ErrorCachingMinTTL"] for e in errors} == {403: 10, 404: 10}


def test_custom_name_certificate_and_records_only_with_custom_names(
    synthesised: Synthesised,
) -> None:
    config = synthesised.config
    template = synthesised.template
    logical, distribution = the_one(template, "AWS::CloudFront::Distribution")
    if not config.custom_names:
        settings = distribution["Properties"]["DistributionConfig"]
        assert "Aliases" not in settings
        assert "AcmCertificateArn" not in settings.get("ViewerCertificate", {})
        assert resources_of(template, "AWS::Route53::RecordSet") == {}
        template.has_output(
            "Url",
            {"Value": {"Fn::Join": ["", ["https://", {"Fn::GetAtt": [logical, "DomainName"]}]]}},
        )
        return
    template.has_resource_properties(
        "AWS::CloudFront::Distribution",
        {
            "DistributionConfig": Match.object_like(
                {
                    "Aliases": ["repo.pki.example.com"],
                    "ViewerCertificate": {
                        "AcmCertificateArn": config.cdn_certificate_arn,
                        "MinimumProtocolVersion": "TLSv1.2_2021",
                        "SslSupportMethod": "sni-only",
                    },
                }
            )
        },
    )
    records = resources_of(template, "AWS::Route53::RecordSet").values()
    assert sorted(r["Properties"]["Type"] for r in records) == ["A", "AAAA"]
    for record in records:
        assert record["Properties"]["Name"] == "repo.pki.example.com."
        assert record["Properties"]["HostedZoneId"] == config.hosted_zone_id
        assert record["Properties"]["AliasTarget"]["DNSName"] == {
            "Fn::GetAtt": [logical, "DomainName"]
        }
    template.has_output("Url", {"Value": "https://repo.pki.example.com"})


def test_a_certificate_without_a_zone_names_the_distribution_but_makes_no_record(
    config: DeployConfig, pki_home: PkiHome, tmp_path: Path
) -> None:
    no_zone = dataclasses.replace(
        with_ca_certificates(config, pki_home, tmp_path / "dist"), hosted_zone_id=None
    )
    _, template = synth(PublishingStack, no_zone, tmp_path / "cdk.out")
    template.has_resource_properties(
        "AWS::CloudFront::Distribution",
        {"DistributionConfig": Match.object_like({"Aliases": ["repo.pki.example.com"]})},
    )
    assert resources_of(template, "AWS::Route53::RecordSet") == {}


# -- the publishing job --------------------------------------------------------------
def test_the_function_is_the_publishing_unit_with_its_environment(
    synthesised: Synthesised,
) -> None:
    template = synthesised.template
    env = synthesised.config.env_name
    layer, _ = the_one(template, "AWS::Lambda::LayerVersion")
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": function_name(env, "publishing"),
            "Handler": "publishing.lambda_handler.handler",
            "Runtime": Match.string_like_regexp(r"^python3\.\d+$"),
            "TracingConfig": {"Mode": "Active"},
            "ReservedConcurrentExecutions": 1,
            "Layers": [{"Ref": layer}],
            "LoggingConfig": Match.object_like({"LogGroup": Match.any_value()}),
            "Environment": {
                "Variables": {
                    "CERTSIGHT_PKI_DIR": PKI_DIR,
                    "CERTSIGHT_PUBLISH": {"Fn::Join": ["", ["s3://", bucket_ref(template), "/ca"]]},
                }
            },
        },
    )
    template.has_resource(
        "AWS::Logs::LogGroup",
        {
            "DeletionPolicy": "Retain",
            "Properties": Match.object_like(
                {
                    "LogGroupName": f"/aws/lambda/{function_name(env, 'publishing')}",
                    "RetentionInDays": Match.any_value(),
                }
            ),
        },
    )


def test_the_layer_holds_the_ca_certificates_and_no_key(
    synthesised: Synthesised, pki_home: PkiHome
) -> None:
    """The source folder held root-ca.key and issuing-ca.key: neither reaches the layer."""
    assert list((synthesised.config.dist / CA_CERTIFICATE_FOLDER).glob("*.key"))
    _, layer = the_one(synthesised.template, "AWS::Lambda::LayerVersion")
    asset_hash = layer["Properties"]["Content"]["S3Key"].removesuffix(".zip")
    staged = synthesised.outdir / f"asset.{asset_hash}"
    files = sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file())
    folder = Path(PKI_DIR).name
    assert files == [f"{folder}/issuing-ca.pem", f"{folder}/root-ca.pem"]
    for name in ("root-ca.pem", "issuing-ca.pem"):
        data = (staged / folder / name).read_bytes()
        assert b"PRIVATE KEY" not in data
        assert data == (pki_home.pki / name).read_bytes()
    assert f"/opt/{folder}" == PKI_DIR  # where Lambda unpacks a layer


def test_a_certificate_file_carrying_a_key_is_refused(pki_home: PkiHome, tmp_path: Path) -> None:
    (tmp_path / "root-ca.pem").write_bytes(
        (pki_home.pki / "root-ca.pem").read_bytes() + (pki_home.pki / "root-ca.key").read_bytes()
    )
    shutil.copy(pki_home.pki / "issuing-ca.pem", tmp_path / "issuing-ca.pem")
    with pytest.raises(AssetError, match="private key"):
        stage_ca_certificates(tmp_path)


def test_a_leaf_certificate_or_a_missing_one_is_refused(pki_home: PkiHome, tmp_path: Path) -> None:
    shutil.copy(pki_home.good, tmp_path / "root-ca.pem")
    shutil.copy(pki_home.pki / "issuing-ca.pem", tmp_path / "issuing-ca.pem")
    with pytest.raises(AssetError, match="not a CA certificate"):
        stage_ca_certificates(tmp_path)
    (tmp_path / "root-ca.pem").unlink()
    with pytest.raises(AssetError, match=r"root-ca\.pem is missing"):
        stage_ca_certificates(tmp_path)


def test_without_ca_certificates_the_job_is_deployed_switched_off(
    bare_config: DeployConfig, tmp_path: Path
) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "publishing.zip").symlink_to(bare_config.dist / "publishing.zip")
    config = dataclasses.replace(bare_config, dist=dist)
    stack, template = synth(PublishingStack, config, tmp_path / "cdk.out")
    assert resources_of(template, "AWS::Lambda::LayerVersion") == {}
    template.has_resource_properties("AWS::Scheduler::Schedule", {"State": "DISABLED"})
    warnings = [entry.data for entry in stack.node.metadata if entry.type == "aws:cdk:warning"]
    assert any(CA_CERTIFICATE_FOLDER in str(w) for w in warnings), warnings


def test_the_schedule_invokes_the_publishing_function(synthesised: Synthesised) -> None:
    template = synthesised.template
    function = function_logical(template)
    role = role_trusting(template, {"Service": "scheduler.amazonaws.com"})
    template.has_resource_properties(
        "AWS::Scheduler::Schedule",
        {
            "State": "ENABLED",
            "ScheduleExpression": Match.string_like_regexp(r"^(rate|cron)\("),
            "Target": Match.object_like(
                {
                    "Arn": {"Fn::GetAtt": [function, "Arn"]},
                    "RoleArn": {"Fn::GetAtt": [role, "Arn"]},
                }
            ),
        },
    )
    # The scheduler's role may invoke this function and nothing else.
    statements = role_statements(template, role)
    assert statements
    for statement in statements:
        assert as_list(statement["Action"]) == ["lambda:InvokeFunction"]
        for resource in as_list(statement["Resource"]):
            assert function in json.dumps(resource)


def test_the_function_may_write_the_ca_prefix_and_nothing_else(
    synthesised: Synthesised,
) -> None:
    template = synthesised.template
    role = role_trusting(template, {"Service": "lambda.amazonaws.com"})
    s3_grants: dict[str, set[str]] = {}
    for statement in role_statements(template, role):
        assert statement["Effect"] == "Allow"
        actions = as_list(statement["Action"])
        if any(a.startswith("s3:") for a in actions):
            for resource in as_list(statement["Resource"]):
                s3_grants.setdefault(json.dumps(resource), set()).update(actions)
        else:  # its own log group and X-Ray traces
            assert all(a.startswith(("logs:", "xray:")) for a in actions), actions
    arn = bucket_arn(template)
    objects = json.dumps({"Fn::Join": ["", [arn, "/ca/*"]]})
    assert s3_grants == {
        objects: {"s3:GetObject", "s3:PutObject"},
        json.dumps(arn): {"s3:ListBucket"},
    }


# -- the pipeline --------------------------------------------------------------------
def pipeline_role(template: Template) -> str:
    return role_trusting(
        template,
        {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{OIDC}"},
    )


def test_only_main_or_the_publishing_environment_assumes_the_pipeline_role(
    synthesised: Synthesised,
) -> None:
    template = synthesised.template
    repository = synthesised.config.github_repository
    role = resources_of(template, "AWS::IAM::Role")[pipeline_role(template)]
    (statement,) = statements_of(role["Properties"]["AssumeRolePolicyDocument"])
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            f"{OIDC}:aud": "sts.amazonaws.com",
            f"{OIDC}:sub": [
                f"repo:{repository}:ref:refs/heads/main",
                f"repo:{repository}:environment:publishing",
            ],
        }
    }


def test_the_pipeline_may_sync_this_bucket_and_invalidate_this_distribution_only(
    synthesised: Synthesised,
) -> None:
    template = synthesised.template
    distribution, _ = the_one(template, "AWS::CloudFront::Distribution")
    arn = bucket_arn(template)
    grants: dict[str, set[str]] = {}
    for statement in role_statements(template, pipeline_role(template)):
        assert statement["Effect"] == "Allow"
        for resource in as_list(statement["Resource"]):
            grants.setdefault(json.dumps(resource), set()).update(as_list(statement["Action"]))
    invalidation = [r for r, a in grants.items() if a == {"cloudfront:CreateInvalidation"}]
    assert len(invalidation) == 1
    assert f'"Ref": "{distribution}"' in invalidation[0]
    del grants[invalidation[0]]
    assert grants == {
        json.dumps(arn): {"s3:ListBucket"},
        json.dumps({"Fn::Join": ["", [arn, "/*"]]}): {"s3:GetObject", "s3:PutObject"},
    }
    template.has_output(
        "PipelineRoleArn", {"Value": {"Fn::GetAtt": [pipeline_role(template), "Arn"]}}
    )


# -- every role ----------------------------------------------------------------------
def granted_actions(template: Template) -> Iterator[tuple[str, str]]:
    for logical in resources_of(template, "AWS::IAM::Role"):
        for statement in role_statements(template, logical):
            if statement.get("Effect") == "Allow":
                for action in as_list(statement.get("Action", [])):
                    yield logical, action


def test_no_role_may_sign_with_kms(synthesised: Synthesised) -> None:
    actions = list(granted_actions(synthesised.template))
    assert actions
    # An action is a pattern: "*", "kms:*" and "kms:Sign*" all reach kms:Sign.
    signing = [(role, a) for role, a in actions if fnmatch.fnmatchcase("kms:sign", a.lower())]
    assert not signing
    assert not any(a.lower().startswith("kms:") for _, a in actions)


def test_every_role_has_the_permissions_boundary(synthesised: Synthesised) -> None:
    assert_every_role_bounded(synthesised.template)


def test_outputs_name_the_bucket_the_distribution_and_the_url(synthesised: Synthesised) -> None:
    template = synthesised.template
    distribution, _ = the_one(template, "AWS::CloudFront::Distribution")
    template.has_output("BucketName", {"Value": bucket_ref(template)})
    template.has_output(
        "DistributionDomainName", {"Value": {"Fn::GetAtt": [distribution, "DomainName"]}}
    )
    template.has_output("DistributionId", {"Value": {"Ref": distribution}})
    template.has_output("Url", {"Value": Match.any_value()})
