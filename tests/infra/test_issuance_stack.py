"""The issuance stack, synthesised offline with cdk-nag on: who may sign with the CA key,
how the API authenticates, what runs the CRL updater, and what the functions are told."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from infra.config import DeployConfig
from infra.naming import (
    CERTIFICATE_TABLE,
    CERTIFICATE_TABLE_STREAM,
    CRL_BUCKET,
    log_group_name,
    shared,
)
from infra.stacks.issuance import API_HANDLER, IssuanceStack
from pki.reasons import RevocationReason
from pki.store.base import CertificateRecord, CertStatus
from pki.store.dynamodb import _record_to_item
from tests.infra.conftest import REGION, assert_every_role_bounded, resources_of, synth

CRL_HANDLER = "issuance.lambda_handler.handler"
PCA_ARNS = (
    f"arn:aws:acm-pca:{REGION}:111122223333:certificate-authority/11223344-aaaa-bbbb-cccc-0123456789ab",
    f"arn:aws:acm-pca:{REGION}:111122223333:certificate-authority/55667788-aaaa-bbbb-cccc-0123456789ab",
)
CEREMONY_ROLE = "arn:aws:iam::111122223333:role/pki-ca-ceremony"
PCA_ACTIONS = {
    "acm-pca:IssueCertificate",
    "acm-pca:GetCertificate",
    "acm-pca:RevokeCertificate",
    "acm-pca:GetCertificateAuthorityCertificate",
}


@pytest.fixture(scope="module")
def full(config: DeployConfig, tmp_path_factory: pytest.TempPathFactory) -> Template:
    """Custom names, hosted zone, alarm e-mail."""
    return synth(IssuanceStack, config, tmp_path_factory.mktemp("issuance-full"))[1]


@pytest.fixture(scope="module")
def bare(bare_config: DeployConfig, tmp_path_factory: pytest.TempPathFactory) -> Template:
    return synth(IssuanceStack, bare_config, tmp_path_factory.mktemp("issuance-bare"))[1]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What an operator ships after `certsight ca init --issuing-kms-key`: certificates
    and ca.json, settings, no key."""
    folder = tmp_path_factory.mktemp("bundle")
    (folder / "pki").mkdir()
    (folder / "pki" / "issuing-ca.pem").write_text("-----BEGIN CERTIFICATE-----\nMII=\n")
    (folder / "pki" / "ca.json").write_text(json.dumps({"issuing_kms_key_id": "arn:..."}))
    (folder / "certsight.toml").write_text("[issuance]\n")
    return folder


@pytest.fixture(scope="module")
def extras(
    bare_config: DeployConfig, bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> Template:
    """Every optional keyword at once: PCA authorities, a ceremony role, a PKI bundle."""

    def factory(app: cdk.App, config: DeployConfig) -> cdk.Stack:
        return IssuanceStack(
            app,
            config,
            private_ca_arns=PCA_ARNS,
            ca_ceremony_role_arns=[CEREMONY_ROLE],
            pki_bundle=bundle,
        )

    return synth(factory, bare_config, tmp_path_factory.mktemp("issuance-extras"))[1]


@pytest.fixture(params=["full", "bare"])
def template(request: pytest.FixtureRequest) -> Template:
    """Both configurations, for what must hold whatever the deployment is given."""
    found: Template = request.getfixturevalue(request.param)
    return found


# -- helpers reading the template ------------------------------------------------------


def _function(template: Template, handler: str) -> tuple[str, dict[str, Any]]:
    found = [
        (logical, resource["Properties"])
        for logical, resource in resources_of(template, "AWS::Lambda::Function").items()
        if resource["Properties"]["Handler"] == handler
    ]
    assert len(found) == 1, f"expected one function with handler {handler}"
    return found[0]


def _role_of(template: Template, handler: str) -> dict[str, Any]:
    """The function's role as the template refers to it (``Fn::GetAtt [ROLE, Arn]``)."""
    role: dict[str, Any] = _function(template, handler)[1]["Role"]
    assert "Fn::GetAtt" in role
    return role


def _ca_key(template: Template) -> dict[str, Any]:
    keys: list[dict[str, Any]] = [
        key["Properties"]
        for key in resources_of(template, "AWS::KMS::Key").values()
        if key["Properties"].get("KeySpec") == "ECC_NIST_P256"
    ]
    assert len(keys) == 1, "expected exactly one ECC_NIST_P256 key (the CA's)"
    return keys[0]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _signers(key: dict[str, Any]) -> list[Any]:
    """Every principal an Allow statement of the key policy lets call kms:Sign."""
    principals: list[Any] = []
    for statement in key["KeyPolicy"]["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        if not any(fnmatchcase("kms:Sign", action) for action in _listed(statement["Action"])):
            continue
        principal = statement["Principal"]
        principals += ["*"] if principal == "*" else _listed(principal["AWS"])
    return principals


def _parameter_named(template: Template, ref: dict[str, Any]) -> str:
    """The SSM parameter name behind a ``{"Ref": ...}`` to an SSM-backed template parameter."""
    name: str = template.to_json()["Parameters"][ref["Ref"]]["Default"]
    return name


def _statements(template: Template) -> list[dict[str, Any]]:
    return [
        statement
        for policy in resources_of(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _matches(pattern: Any, event: Any) -> bool:
    """Lambda's filter semantics for the subset the stack uses: objects nest, a list
    lists the accepted values, anything absent from the event fails."""
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(
            key in event and _matches(sub, event[key]) for key, sub in pattern.items()
        )
    return isinstance(pattern, list) and event in pattern


# -- the CA key ------------------------------------------------------------------------


def test_the_ca_key_is_an_ecc_p256_signing_key_kept_on_delete(template: Template) -> None:
    template.has_resource(
        "AWS::KMS::Key",
        {
            "Properties": Match.object_like(
                {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}
            ),
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_only_the_two_function_roles_may_sign_with_the_ca_key(template: Template) -> None:
    signers = _signers(_ca_key(template))
    assert sorted(map(json.dumps, signers)) == sorted(
        json.dumps(_role_of(template, handler)) for handler in (API_HANDLER, CRL_HANDLER)
    )
    for principal in signers:
        assert principal != "*"
        assert ":root" not in json.dumps(principal)


def test_the_account_administers_the_ca_key_but_cannot_use_or_delegate_it(
    template: Template,
) -> None:
    for statement in _ca_key(template)["KeyPolicy"]["Statement"]:
        if ":root" not in json.dumps(statement["Principal"]):
            continue
        actions = _listed(statement["Action"])
        assert "kms:PutKeyPolicy" in actions  # CloudFormation must be able to update it
        for forbidden in ("kms:Sign", "kms:GetPublicKey", "kms:CreateGrant", "kms:Verify"):
            assert not any(fnmatchcase(forbidden, action) for action in actions), forbidden


def test_a_ceremony_role_signs_only_when_named(extras: Template, template: Template) -> None:
    assert CEREMONY_ROLE in _signers(_ca_key(extras))
    assert CEREMONY_ROLE not in _signers(_ca_key(template))


# -- the API ---------------------------------------------------------------------------


def test_every_api_route_requires_iam_authorization(template: Template) -> None:
    routes = resources_of(template, "AWS::ApiGatewayV2::Route")
    assert {r["Properties"]["RouteKey"] for r in routes.values()} == {"ANY /v1", "ANY /v1/{proxy+}"}
    for route in routes.values():
        assert route["Properties"]["AuthorizationType"] == "AWS_IAM"


def test_the_api_integration_is_the_api_function_with_payload_2(template: Template) -> None:
    logical, _ = _function(template, API_HANDLER)
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Integration",
        {
            "IntegrationType": "AWS_PROXY",
            "PayloadFormatVersion": "2.0",
            "IntegrationUri": {"Fn::GetAtt": [logical, "Arn"]},
        },
    )


def test_the_stage_is_throttled_and_logs_the_principal_as_json(template: Template) -> None:
    stages = resources_of(template, "AWS::ApiGatewayV2::Stage")
    assert len(stages) == 1
    stage = next(iter(stages.values()))["Properties"]
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] > 0
    record = json.loads(stage["AccessLogSettings"]["Format"])
    assert record["principal"] == "$context.identity.userArn"
    assert {"requestId", "ip", "userAgent", "status"} <= set(record)
    group = stage["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    assert template.to_json()["Resources"][group]["Type"] == "AWS::Logs::LogGroup"


def test_the_custom_name_needs_the_regional_certificate(full: Template, bare: Template) -> None:
    full.has_resource_properties(
        "AWS::ApiGatewayV2::DomainName",
        {
            "DomainName": "api.pki.example.com",
            "DomainNameConfigurations": [Match.object_like({"EndpointType": "REGIONAL"})],
        },
    )
    full.resource_count_is("AWS::ApiGatewayV2::ApiMapping", 1)
    full.has_resource_properties(
        "AWS::Route53::RecordSet",
        {"Name": "api.pki.example.com.", "Type": "A", "HostedZoneId": "Z0123456789ABCDEFGHIJ"},
    )
    full.has_resource_properties("AWS::ApiGatewayV2::Api", {"DisableExecuteApiEndpoint": True})
    full.has_output("*", {"Value": "https://api.pki.example.com/v1"})
    for kind in (
        "AWS::ApiGatewayV2::DomainName",
        "AWS::ApiGatewayV2::ApiMapping",
        "AWS::Route53::RecordSet",
    ):
        bare.resource_count_is(kind, 0)
    bare.has_resource_properties("AWS::ApiGatewayV2::Api", {"DisableExecuteApiEndpoint": False})


def test_a_certificate_without_a_zone_makes_the_name_but_no_record(
    config: DeployConfig, tmp_path: Path
) -> None:
    _, template = synth(IssuanceStack, replace(config, hosted_zone_id=None), tmp_path)
    template.resource_count_is("AWS::ApiGatewayV2::DomainName", 1)
    template.resource_count_is("AWS::Route53::RecordSet", 0)


# -- the CRL updater -------------------------------------------------------------------


def test_the_schedule_invokes_the_crl_updater(template: Template) -> None:
    logical, _ = _function(template, CRL_HANDLER)
    schedules = resources_of(template, "AWS::Scheduler::Schedule")
    assert len(schedules) == 1
    schedule = next(iter(schedules.values()))["Properties"]
    assert schedule["ScheduleExpression"].startswith("rate(")
    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": [logical, "Arn"]}
    role = schedule["Target"]["RoleArn"]["Fn::GetAtt"][0]
    invoke = [
        statement
        for policy in resources_of(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "lambda:InvokeFunction" in _listed(statement["Action"])
    ]
    assert [s["Resource"] for s in invoke] == [{"Fn::GetAtt": [logical, "Arn"]}]


def test_the_api_function_is_not_the_schedule_target(template: Template) -> None:
    """Whoever may invoke the API function directly could forge the caller's principal
    (docs/issuance.md): only API Gateway may."""
    logical, _ = _function(template, API_HANDLER)
    for schedule in resources_of(template, "AWS::Scheduler::Schedule").values():
        assert schedule["Properties"]["Target"]["Arn"] != {"Fn::GetAtt": [logical, "Arn"]}
    for permission in resources_of(template, "AWS::Lambda::Permission").values():
        if permission["Properties"]["FunctionName"] == {"Fn::GetAtt": [logical, "Arn"]}:
            assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"


def _revocation_mapping(template: Template) -> dict[str, Any]:
    mappings = resources_of(template, "AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 1
    mapping: dict[str, Any] = next(iter(mappings.values()))["Properties"]
    return mapping


def test_the_stream_mapping_reads_the_validation_tables_stream(template: Template) -> None:
    mapping = _revocation_mapping(template)
    logical, _ = _function(template, CRL_HANDLER)
    assert mapping["FunctionName"] == {"Ref": logical}
    assert _parameter_named(template, mapping["EventSourceArn"]) == shared(
        "prod", CERTIFICATE_TABLE_STREAM
    )
    assert mapping["BisectBatchOnFunctionError"] is True
    queue = mapping["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert template.to_json()["Resources"][queue]["Type"] == "AWS::SQS::Queue"


def test_the_stream_filter_passes_revocations_only(template: Template) -> None:
    """The filter against stream records of the items pki/store/dynamodb.py writes."""
    filters = _revocation_mapping(template)["FilterCriteria"]["Filters"]
    patterns = [json.loads(f["Pattern"]) for f in filters]
    now = datetime(2026, 12, 7, tzinfo=UTC)
    good = CertificateRecord(
        issuer_key_sha1="9b" * 20,
        serial="3f2f",
        subject="CN=web.corp.example",
        sans=("web.corp.example",),
        not_before=now,
        not_after=now + timedelta(days=30),
        profile="tls-server",
    )
    revoked = replace(
        good,
        status=CertStatus.revoked,
        revoked_at=now,
        revocation_reason=RevocationReason.keyCompromise,
    )
    change_log = {"issuer_key_sha1": {"S": "#changes"}, "serial": {"S": "1".zfill(20)}}

    def record(name: str, new: dict[str, Any], old: dict[str, Any] | None = None) -> Any:
        images = {"NewImage": new, **({"OldImage": old} if old else {})}
        return {"eventName": name, "eventSource": "aws:dynamodb", "dynamodb": images}

    def passes(event: Any) -> bool:
        return any(_matches(pattern, event) for pattern in patterns)

    assert passes(record("MODIFY", _record_to_item(revoked), _record_to_item(good)))
    assert passes(record("INSERT", _record_to_item(revoked)))  # imported already revoked
    assert not passes(record("INSERT", _record_to_item(good)))
    assert not passes(record("INSERT", change_log))
    assert not passes(record("REMOVE", _record_to_item(revoked)))


def test_the_crl_updater_runs_alone_and_has_a_dead_letter_queue(template: Template) -> None:
    _, function = _function(template, CRL_HANDLER)
    assert function["ReservedConcurrentExecutions"] == 1
    assert "TargetArn" in function["DeadLetterConfig"]


# -- permissions -----------------------------------------------------------------------


def test_private_ca_permissions_cover_exactly_the_given_authorities(extras: Template) -> None:
    pca = [
        s
        for s in _statements(extras)
        if any(a.startswith("acm-pca:") for a in _listed(s["Action"]))
    ]
    assert {a for s in pca for a in _listed(s["Action"])} >= PCA_ACTIONS
    for statement in pca:
        assert sorted(_listed(statement["Resource"])) == sorted(PCA_ARNS)
    api_role = _role_of(extras, API_HANDLER)["Fn::GetAtt"][0]
    for policy in resources_of(extras, "AWS::IAM::Policy").values():
        document = json.dumps(policy["Properties"]["PolicyDocument"])
        if "acm-pca:" in document:
            assert policy["Properties"]["Roles"] == [{"Ref": api_role}]


def test_no_private_ca_permission_without_authorities(template: Template) -> None:
    for statement in _statements(template):
        assert not any(a.startswith("acm-pca:") for a in _listed(statement["Action"]))


def test_a_malformed_private_ca_arn_is_refused(bare_config: DeployConfig) -> None:
    with pytest.raises(ValueError, match="private_ca_arns"):
        IssuanceStack(cdk.App(), bare_config, private_ca_arns=["arn:aws:acm-pca:*"])


def test_every_role_has_the_permissions_boundary(template: Template) -> None:
    assert_every_role_bounded(template)


# -- what the functions are told -------------------------------------------------------


def test_both_functions_use_the_validation_certificate_table(template: Template) -> None:
    for handler in (API_HANDLER, CRL_HANDLER):
        store = _function(template, handler)[1]["Environment"]["Variables"]["CERTSIGHT_STORE"]
        prefix, ref = store["Fn::Join"][1]
        assert prefix == "dynamodb://"
        assert _parameter_named(template, ref) == shared("prod", CERTIFICATE_TABLE)


def test_the_crl_updater_writes_to_the_crl_bucket(template: Template) -> None:
    variables = _function(template, CRL_HANDLER)[1]["Environment"]["Variables"]
    scheme, bucket, prefix = variables["CERTSIGHT_CRLS"]["Fn::Join"][1]
    assert (scheme, prefix) == ("s3://", "/crl")
    assert _parameter_named(template, bucket) == shared("prod", CRL_BUCKET)
    assert int(variables["CERTSIGHT_CRL_VALIDITY"]) >= 3 * 3600  # hourly runs, margin


def test_the_api_keeps_its_state_where_lambda_can_write(template: Template) -> None:
    variables = _function(template, API_HANDLER)[1]["Environment"]["Variables"]
    assert variables["CERTSIGHT_ISSUANCE_STATE"].startswith("/tmp/")


def test_the_log_groups_have_the_names_analytics_subscribes_to(template: Template) -> None:
    groups = resources_of(template, "AWS::Logs::LogGroup")
    for handler, name in ((API_HANDLER, "issuance-api"), (CRL_HANDLER, "crl-updater")):
        _, function = _function(template, handler)
        group = groups[function["LoggingConfig"]["LogGroup"]["Ref"]]
        assert group["Properties"]["LogGroupName"] == log_group_name("prod", name)
        assert group["DeletionPolicy"] == "Retain"
        assert function["TracingConfig"] == {"Mode": "Active"}


def test_the_bundle_becomes_a_layer_and_names_the_settings(extras: Template) -> None:
    for handler in (API_HANDLER, CRL_HANDLER):
        assert len(_function(extras, handler)[1]["Layers"]) == 1
    variables = _function(extras, API_HANDLER)[1]["Environment"]["Variables"]
    assert variables["CERTSIGHT_SETTINGS"] == "/opt/certsight.toml"
    assert variables["CERTSIGHT_PKI_DIR"] == "/opt/pki"


def test_a_bundle_holding_a_private_key_is_refused(
    bare_config: DeployConfig, bundle: Path, tmp_path: Path
) -> None:
    leaky = tmp_path / "leaky"
    (leaky / "pki").mkdir(parents=True)
    (leaky / "pki" / "issuing-ca.pem").write_text((bundle / "pki" / "issuing-ca.pem").read_text())
    (leaky / "pki" / "root.pem").write_text("-----BEGIN EC PRIVATE KEY-----\nMHc=\n")
    with pytest.raises(ValueError, match="private key"):
        IssuanceStack(cdk.App(), bare_config, pki_bundle=leaky)


# -- alarms ----------------------------------------------------------------------------


def test_alarms_reach_the_topic_and_email_only_when_configured(
    full: Template, bare: Template
) -> None:
    full.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "pki-oncall@example.com"}
    )
    bare.resource_count_is("AWS::SNS::Subscription", 0)
    topic = next(iter(resources_of(full, "AWS::SNS::Topic")))
    alarms = resources_of(full, "AWS::CloudWatch::Alarm").values()
    metrics = {a["Properties"]["MetricName"] for a in alarms}
    assert {"5xx", "Errors", "ApproximateNumberOfMessagesVisible"} <= metrics
    for alarm in alarms:
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic}]
