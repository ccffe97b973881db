"""The validation stack (issue 15), synthesised offline with cdk-nag on, in both the
production-like configuration (custom names, zone, e-mail) and the bare one.

The stack's PKI layer is staged from the session CA's whole ``HOME/pki``, CA keys
included, so the layer tests prove the keys are left out rather than never offered.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cdk.assertions import Capture, Match, Template
from cryptography.hazmat.primitives import serialization
from moto import mock_aws

from infra.assets import AssetError, unit_code
from infra.config import DeployConfig
from infra.constructs.pki_layers import PKI_DIR, stage_validation_pki
from infra.naming import (
    CDN_LOG_BUCKET,
    CERTIFICATE_TABLE,
    CERTIFICATE_TABLE_STREAM,
    CRL_BUCKET,
    shared,
)
from infra.stacks.validation import ValidationStack
from pki.store.dynamodb import DynamoDbStore
from tests.conftest import PkiHome
from tests.infra.conftest import assert_every_role_bounded, resources_of, synth

CA_KEY_FILES = ("root-ca.key", "issuing-ca.key")
PEM_PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=\r\n]{40,}")


@dataclasses.dataclass(frozen=True)
class Synthesised:
    config: DeployConfig
    stack: ValidationStack
    template: Template
    outdir: Path

    @property
    def resources(self) -> dict[str, Any]:
        return dict(self.template.to_json()["Resources"])

    def one(self, kind: str) -> dict[str, Any]:
        found = resources_of(self.template, kind)
        assert len(found) == 1, f"expected one {kind}, found {len(found)}"
        return dict(next(iter(found.values()))["Properties"])


def _synthesise(config: DeployConfig, pki_home: PkiHome, outdir: Path) -> Synthesised:
    stack, template = synth(
        lambda app, c: ValidationStack(app, c, pki_source=pki_home.pki), config, outdir
    )
    assert isinstance(stack, ValidationStack)
    return Synthesised(config, stack, template, outdir)


@pytest.fixture(scope="module")
def prod(
    config: DeployConfig, pki_home: PkiHome, tmp_path_factory: pytest.TempPathFactory
) -> Synthesised:
    return _synthesise(config, pki_home, tmp_path_factory.mktemp("validation-prod"))


@pytest.fixture(scope="module")
def bare(
    bare_config: DeployConfig, pki_home: PkiHome, tmp_path_factory: pytest.TempPathFactory
) -> Synthesised:
    return _synthesise(bare_config, pki_home, tmp_path_factory.mktemp("validation-bare"))


@pytest.fixture(scope="module", params=["prod", "bare"])
def both(request: pytest.FixtureRequest) -> Synthesised:
    synthesised: Synthesised = request.getfixturevalue(request.param)
    return synthesised


def _ref(value: Any) -> str:
    assert isinstance(value, dict) and set(value) == {"Ref"}, value
    return str(value["Ref"])


def _distribution(s: Synthesised) -> dict[str, Any]:
    config: dict[str, Any] = s.one("AWS::CloudFront::Distribution")["DistributionConfig"]
    return config


def _origin(s: Synthesised, origin_id: str) -> dict[str, Any]:
    origins = [o for o in _distribution(s)["Origins"] if o["Id"] == origin_id]
    assert len(origins) == 1
    return dict(origins[0])


def _crl_behaviour(s: Synthesised) -> dict[str, Any]:
    behaviours = [b for b in _distribution(s)["CacheBehaviors"] if b["PathPattern"] == "/crl/*"]
    assert len(behaviours) == 1, "no /crl/* behaviour"
    return dict(behaviours[0])


def _function(s: Synthesised) -> dict[str, Any]:
    functions = [
        f["Properties"]
        for f in resources_of(s.template, "AWS::Lambda::Function").values()
        if f["Properties"].get("FunctionName") == f"certsight-{s.config.env_name}-ocsp"
    ]
    assert len(functions) == 1
    return dict(functions[0])


# -- synthesis and guardrails ------------------------------------------------------


def test_both_configurations_synthesise_with_every_role_bounded(both: Synthesised) -> None:
    assert_every_role_bounded(both.template)
    both.template.resource_count_is("AWS::CloudFront::Distribution", 1)
    both.template.resource_count_is("AWS::DynamoDB::Table", 1)


def test_shared_parameters_name_the_table_its_stream_and_the_crl_bucket(
    both: Synthesised,
) -> None:
    env = both.config.env_name
    table = next(iter(resources_of(both.template, "AWS::DynamoDB::Table")))
    bucket = _crl_bucket_id(both)
    both.template.has_resource_properties(
        "AWS::SSM::Parameter",
        {"Name": shared(env, CERTIFICATE_TABLE), "Value": {"Ref": table}},
    )
    both.template.has_resource_properties(
        "AWS::SSM::Parameter",
        {
            "Name": shared(env, CERTIFICATE_TABLE_STREAM),
            "Value": {"Fn::GetAtt": [table, "StreamArn"]},
        },
    )
    both.template.has_resource_properties(
        "AWS::SSM::Parameter", {"Name": shared(env, CRL_BUCKET), "Value": {"Ref": bucket}}
    )


# -- the CDN -----------------------------------------------------------------------


def test_ocsp_cache_policy_honours_the_origin_and_keys_on_the_path_only(
    both: Synthesised,
) -> None:
    policy_id = _ref(_distribution(both)["DefaultCacheBehavior"]["CachePolicyId"])
    config = both.resources[policy_id]["Properties"]["CachePolicyConfig"]
    assert config["MinTTL"] == 0  # else CloudFront caches no-store answers
    assert 0 < config["MaxTTL"] <= 3600
    assert config["DefaultTTL"] <= config["MaxTTL"]
    key = config["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["HeadersConfig"] == {"HeaderBehavior": "none"}
    assert key["CookiesConfig"] == {"CookieBehavior": "none"}
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "none"}
    assert key["EnableAcceptEncodingGzip"] is False
    assert key["EnableAcceptEncodingBrotli"] is False


def test_origin_request_policy_forwards_the_viewer_address_and_not_the_host(
    both: Synthesised,
) -> None:
    policy_id = _ref(_distribution(both)["DefaultCacheBehavior"]["OriginRequestPolicyId"])
    headers = both.resources[policy_id]["Properties"]["OriginRequestPolicyConfig"]["HeadersConfig"]
    assert headers["HeaderBehavior"] == "whitelist"
    forwarded = {h.lower() for h in headers["Headers"]}
    assert "cloudfront-viewer-address" in forwarded
    assert "host" not in forwarded  # a Function URL answers only to its own host


def test_default_behaviour_allows_ocsp_post_over_plain_http(both: Synthesised) -> None:
    default = _distribution(both)["DefaultCacheBehavior"]
    assert {"GET", "HEAD", "POST"} <= set(default["AllowedMethods"])
    assert default["ViewerProtocolPolicy"] == "allow-all"
    assert default["Compress"] is False


def test_the_origin_secret_header_and_the_function_share_one_generated_secret(
    both: Synthesised,
) -> None:
    default = _distribution(both)["DefaultCacheBehavior"]
    origin = _origin(both, default["TargetOriginId"])
    headers = {h["HeaderName"].lower(): h["HeaderValue"] for h in origin["OriginCustomHeaders"]}
    sent = _joined(headers["x-certsight-origin-secret"])
    accepted = _joined(_function(both)["Environment"]["Variables"]["CERTSIGHT_ORIGIN_SECRET"])
    secrets = resources_of(both.template, "AWS::SecretsManager::Secret")
    assert len(secrets) == 1
    ((secret_id, secret),) = secrets.items()
    assert "GenerateSecretString" in secret["Properties"]
    # One dynamic reference to the generated secret (never its value in the template),
    # and the function accepts exactly what CloudFront sends (plus, while rotating, the
    # previous value).
    assert sent.startswith(f"{{{{resolve:secretsmanager:<{secret_id}>:SecretString:")
    assert sent.endswith("}}")
    assert sent.count("{{resolve:") == 1
    assert sent in accepted.split(",")
    # The origin is the Function URL on the alias.
    url_id = next(iter(resources_of(both.template, "AWS::Lambda::Url")))
    assert url_id in json.dumps(origin["DomainName"])
    # A dead origin is found in seconds, so stale-if-error answers start soon; the read
    # timeout outlasts the function's own timeout, so a slow answer is not cut short.
    attempts = origin.get("ConnectionAttempts", 3)
    assert attempts * origin.get("ConnectionTimeout", 10) <= 6
    assert origin["CustomOriginConfig"]["OriginReadTimeout"] > _function(both)["Timeout"]


def test_crl_paths_go_to_the_crl_bucket_through_origin_access_control(
    both: Synthesised,
) -> None:
    behaviour = _crl_behaviour(both)
    origin = _origin(both, behaviour["TargetOriginId"])
    assert origin["DomainName"] == {"Fn::GetAtt": [_crl_bucket_id(both), "RegionalDomainName"]}
    assert "OriginAccessControlId" in origin
    both.template.has_resource_properties(
        "AWS::CloudFront::OriginAccessControl",
        {"OriginAccessControlConfig": Match.object_like({"OriginAccessControlOriginType": "s3"})},
    )
    assert behaviour["ViewerProtocolPolicy"] == "allow-all"
    policy = both.resources[_ref(behaviour["CachePolicyId"])]["Properties"]["CachePolicyConfig"]
    assert policy["MinTTL"] == 0
    assert policy["ParametersInCacheKeyAndForwardedToOrigin"]["HeadersConfig"] == {
        "HeaderBehavior": "none"
    }
    # Only CloudFront (this distribution) reads the bucket as a service.
    both.template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": _crl_bucket_id(both)},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "s3:GetObject",
                                "Principal": {"Service": "cloudfront.amazonaws.com"},
                                "Condition": Match.any_value(),
                            }
                        )
                    ]
                )
            },
        },
    )


def test_standard_logs_go_to_the_analytics_cdn_log_bucket(both: Synthesised) -> None:
    logging = _distribution(both)["Logging"]
    assert logging["Prefix"] == "cloudfront/validation/"
    # <the name read from SSM at deployment>.s3.<region>.amazonaws.com
    bucket = _joined(logging["Bucket"])
    assert bucket.endswith(f".s3.{both.config.region}.amazonaws.com")
    parameter = bucket.removeprefix("<").partition(">")[0]
    declared = both.template.to_json()["Parameters"][parameter]
    assert declared["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert declared["Default"] == shared(both.config.env_name, CDN_LOG_BUCKET)


def test_custom_names_get_the_alias_tls_policy_and_dns_records(prod: Synthesised) -> None:
    distribution = _distribution(prod)
    hostname = prod.config.hostname("validation")
    assert distribution["Aliases"] == [hostname]
    assert distribution["ViewerCertificate"]["MinimumProtocolVersion"] == "TLSv1.2_2021"
    assert distribution["ViewerCertificate"]["AcmCertificateArn"] == prod.config.cdn_certificate_arn
    for kind in ("A", "AAAA"):
        prod.template.has_resource_properties(
            "AWS::Route53::RecordSet",
            {
                "Type": kind,
                "Name": f"{hostname}.",
                "HostedZoneId": prod.config.hosted_zone_id,
                "AliasTarget": Match.object_like({"DNSName": Match.any_value()}),
            },
        )


def test_bare_mode_has_no_custom_name_and_no_dns(bare: Synthesised) -> None:
    distribution = _distribution(bare)
    assert "Aliases" not in distribution
    assert "AcmCertificateArn" not in json.dumps(distribution)
    bare.template.resource_count_is("AWS::Route53::RecordSet", 0)


# -- the function, its alias and its canary ----------------------------------------


def test_function_environment_concurrency_and_tracing(both: Synthesised) -> None:
    function = _function(both)
    assert function["ReservedConcurrentExecutions"] > 0
    assert function["TracingConfig"] == {"Mode": "Active"}
    variables = function["Environment"]["Variables"]
    table = next(iter(resources_of(both.template, "AWS::DynamoDB::Table")))
    assert variables["CERTSIGHT_STORE"] == {"Fn::Join": ["", ["dynamodb://", {"Ref": table}]]}
    assert variables["CERTSIGHT_CRLS"] == {
        "Fn::Join": ["", ["s3://", {"Ref": _crl_bucket_id(both)}, "/crl"]]
    }
    assert variables["CERTSIGHT_TRUST_VIEWER_ADDRESS"] == "1"
    # The origin's max-age cap is the OCSP cache policy's max TTL: the CDN never keeps
    # an answer longer than the function allows.
    ocsp_policies = [
        p["Properties"]["CachePolicyConfig"]
        for p in resources_of(both.template, "AWS::CloudFront::CachePolicy").values()
        if p["Properties"]["CachePolicyConfig"]["DefaultTTL"] == 0
    ]
    assert [int(variables["CERTSIGHT_CDN_MAX_AGE"])] == [c["MaxTTL"] for c in ocsp_policies]
    assert variables["CERTSIGHT_PKI_DIR"] == PKI_DIR
    unit = unit_code(both.config.dist, "validation")
    assert function["Handler"] == unit.handler
    assert function["Runtime"] == unit.runtime.name
    both.template.has_resource_properties(
        "AWS::Logs::LogGroup",
        {
            "LogGroupName": f"/aws/lambda/certsight-{both.config.env_name}-ocsp",
            "RetentionInDays": Match.any_value(),
        },
    )


def test_function_url_is_public_on_the_live_alias(both: Synthesised) -> None:
    both.template.has_resource_properties("AWS::Lambda::Alias", {"Name": "live"})
    both.template.has_resource_properties(
        "AWS::Lambda::Url", {"AuthType": "NONE", "Qualifier": "live"}
    )


def test_canary_deployment_rolls_back_on_the_5xx_alarm(both: Synthesised) -> None:
    alarm = Capture()
    both.template.has_resource_properties(
        "AWS::CodeDeploy::DeploymentGroup",
        {
            "DeploymentConfigName": Match.string_like_regexp("Canary"),
            "AlarmConfiguration": {"Enabled": True, "Alarms": [{"Name": alarm}]},
            "AutoRollbackConfiguration": Match.object_like(
                {"Enabled": True, "Events": Match.array_with(["DEPLOYMENT_STOP_ON_ALARM"])}
            ),
        },
    )
    watched = both.resources[_ref(alarm.as_object())]["Properties"]
    names = {
        m["MetricStat"]["Metric"]["MetricName"] for m in watched["Metrics"] if "MetricStat" in m
    }
    assert {"Errors", "Url5xxCount"} <= names


def test_alarms_for_5xx_latency_throttles_and_feed_lag(both: Synthesised) -> None:
    alarms = [
        a["Properties"] for a in resources_of(both.template, "AWS::CloudWatch::Alarm").values()
    ]
    topic = next(iter(resources_of(both.template, "AWS::SNS::Topic")))
    for alarm in alarms:
        assert alarm["AlarmActions"] == [{"Ref": topic}]

    def watching(name: str) -> list[dict[str, Any]]:
        return [
            a
            for a in alarms
            if a.get("MetricName") == name
            or any(
                m.get("MetricStat", {}).get("Metric", {}).get("MetricName") == name
                for m in a.get("Metrics", [])
            )
        ]

    assert watching("Errors") and watching("Url5xxCount")
    assert [a for a in watching("Duration") if a.get("ExtendedStatistic") == "p99"]
    assert watching("Throttles")
    stale = Capture()
    both.template.has_resource_properties(
        "AWS::Logs::MetricFilter",
        {
            "FilterPattern": Match.string_like_regexp("status feed stale"),
            "LogGroupName": {"Ref": Match.any_value()},
            "MetricTransformations": [Match.object_like({"MetricName": stale})],
        },
    )
    assert watching(stale.as_string())
    if both.config.alarm_email:
        both.template.has_resource_properties(
            "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": both.config.alarm_email}
        )
    else:
        both.template.resource_count_is("AWS::SNS::Subscription", 0)


def test_distribution_5xx_alarm_where_cloudfront_metrics_live(
    bare_config: DeployConfig, pki_home: PkiHome, tmp_path: Path
) -> None:
    east = dataclasses.replace(bare_config, region="us-east-1")
    synthesised = _synthesise(east, pki_home, tmp_path)
    synthesised.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/CloudFront",
            "MetricName": "5xxErrorRate",
            "Dimensions": Match.array_with([{"Name": "Region", "Value": "Global"}]),
        },
    )


def test_function_role_reads_and_never_signs_or_writes(both: Synthesised) -> None:
    role = _function(both)["Role"]["Fn::GetAtt"][0]
    statements = [
        statement
        for policy in resources_of(both.template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert statements
    assert not resources_of(both.template, "AWS::IAM::Role")[role]["Properties"].get(
        "ManagedPolicyArns"
    )
    actions = {
        action
        for statement in statements
        if statement["Effect"] == "Allow"
        for action in (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
    }
    assert not any(a.startswith("kms:") for a in actions)
    dynamodb = {a for a in actions if a.startswith("dynamodb:")}
    assert dynamodb == {"dynamodb:GetItem", "dynamodb:Query"}
    s3 = {a for a in actions if a.startswith("s3:")}
    assert s3 <= {"s3:GetObject", "s3:ListBucket"}
    assert not any("*" in a for a in actions)
    assert {"logs:CreateLogStream", "logs:PutLogEvents"} <= actions


# -- the certificate store ---------------------------------------------------------


@pytest.fixture
def code_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The table ``DynamoDbStore.ensure_table`` creates, as DynamoDB describes it."""
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "eu-west-1"),
    ):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        DynamoDbStore(client, "certificates").ensure_table(wait_delay_s=1, wait_attempts=5)
        yield dict(client.describe_table(TableName="certificates")["Table"])


def test_certificate_table_matches_what_the_store_creates(
    both: Synthesised, code_table: dict[str, Any]
) -> None:
    table = both.one("AWS::DynamoDB::Table")
    assert table["KeySchema"] == code_table["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(
        code_table["AttributeDefinitions"], key=str
    )
    ours = {
        index["IndexName"]: (index["KeySchema"], index["Projection"])
        for index in table["GlobalSecondaryIndexes"]
    }
    theirs = {
        index["IndexName"]: (index["KeySchema"], index["Projection"])
        for index in code_table["GlobalSecondaryIndexes"]
    }
    assert ours == theirs
    assert table["BillingMode"] == "PAY_PER_REQUEST"


def test_certificate_table_is_protected_and_streams_revocations(both: Synthesised) -> None:
    both.template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "Properties": Match.object_like(
                {
                    "DeletionProtectionEnabled": True,
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
                }
            ),
        },
    )


def test_crl_bucket_is_versioned_private_and_logged(both: Synthesised) -> None:
    bucket = both.resources[_crl_bucket_id(both)]
    assert bucket["DeletionPolicy"] == "Retain"
    properties = bucket["Properties"]
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "ServerSideEncryptionConfiguration" in properties["BucketEncryption"]
    assert "DestinationBucketName" in properties["LoggingConfiguration"]


# -- what the function is made of --------------------------------------------------


def _asset_source(s: Synthesised, s3_key: Any) -> Path:
    """The file or folder the cloud assembly uploads as ``s3_key``, checked to be the
    asset whose hash names the key."""
    assets = json.loads((s.outdir / f"{s.stack.stack_name}.assets.json").read_text())
    asset_hash = str(s3_key).removesuffix(".zip")
    assert asset_hash in assets["files"], f"{s3_key} is no asset of the stack"
    return s.outdir / str(assets["files"][asset_hash]["source"]["path"])


def test_function_code_is_the_validation_zip_without_issuance_or_keys(both: Synthesised) -> None:
    code = _function(both)["Code"]
    source = _asset_source(both, code["S3Key"])
    unit = unit_code(both.config.dist, "validation")
    assert (
        hashlib.sha256(source.read_bytes()).digest()
        == hashlib.sha256(unit.path.read_bytes()).digest()
    ), "the function's asset is not the unit zip"
    with zipfile.ZipFile(source) as archive:
        names = archive.namelist()
        assert any(name.startswith("responders/") for name in names)
        assert not [n for n in names if n.startswith("issuance/")]
        assert not [n for n in names if n.endswith(".key")]
        # A PEM block with a body: cryptography's own sources name the markers.
        for name in names:
            assert not PEM_PRIVATE_KEY.search(archive.read(name)), name


def test_pki_layer_holds_certificates_and_signers_but_no_ca_key(
    both: Synthesised, pki_home: PkiHome
) -> None:
    assert all((pki_home.pki / name).exists() for name in CA_KEY_FILES)  # offered...
    layers = resources_of(both.template, "AWS::Lambda::LayerVersion")
    assert len(layers) == 1
    ((layer_id, layer),) = layers.items()
    assert _function(both)["Layers"] == [{"Ref": layer_id}]
    folder = _asset_source(both, layer["Properties"]["Content"]["S3Key"]) / Path(PKI_DIR).name
    shipped = sorted(p.name for p in folder.iterdir())
    assert not set(CA_KEY_FILES) & set(shipped)  # ...and not taken
    assert {"root-ca.pem", "issuing-ca.pem", "ocsp-signer.pem", "ocsp-signer.key"} <= set(shipped)
    ca_public = {_public(pki_home.pki / name) for name in CA_KEY_FILES}
    for key_file in folder.glob("*.key"):
        assert _public(key_file) not in ca_public, key_file.name


def _public(key_file: Path) -> bytes:
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_staging_refuses_a_ca_key_posing_as_the_signer(pki_home: PkiHome, tmp_path: Path) -> None:
    source = tmp_path / "pki"
    shutil.copytree(pki_home.pki, source)
    shutil.copyfile(source / "issuing-ca.key", source / "ocsp-signer.key")
    with pytest.raises(AssetError, match="CA key"):
        stage_validation_pki(source)


def test_staging_refuses_a_missing_folder_or_signer(pki_home: PkiHome, tmp_path: Path) -> None:
    with pytest.raises(AssetError, match="missing"):
        stage_validation_pki(tmp_path / "nowhere")
    source = tmp_path / "pki"
    shutil.copytree(pki_home.pki, source)
    (source / "ocsp-signer.pem").unlink()
    with pytest.raises(AssetError, match=r"ocsp-signer\.pem"):
        stage_validation_pki(source)


def _joined(value: Any) -> str:
    """A string property as text, references written ``<LogicalId>``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return f"<{value['Ref']}>"
    assert isinstance(value, dict) and set(value) == {"Fn::Join"}, value
    separator, parts = value["Fn::Join"]
    return str(separator).join(_joined(part) for part in parts)


def _crl_bucket_id(s: Synthesised) -> str:
    buckets = [
        logical
        for logical, bucket in resources_of(s.template, "AWS::S3::Bucket").items()
        if bucket["Properties"].get("VersioningConfiguration")
    ]
    assert len(buckets) == 1
    return buckets[0]
