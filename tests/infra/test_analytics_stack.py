"""The analytics stack: RAW and LAKE buckets, the responders' logs through Firehose into
RAW, S3 notifications through SQS to the ingest function, Athena over the LAKE, and the
scheduled Fargate warehouse job with its EFS home, delivering alerts to SNS.

Synthesised offline with cdk-nag on, for a production-like configuration and a bare one;
resources are found by what they are (their properties, or the SSM parameter that names
them), never by logical id. run-job.sh, the job's entry point, runs here against stand-in
``certsight`` and ``python`` commands, and the settings file it writes is read by
certsight's own settings model."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from certsight.settings import CertsightSettings, Home
from infra.config import DeployConfig, Retention
from infra.constructs import validation_cdn
from infra.constructs.analytics_ingest import INGEST_MEMORY_MB
from infra.constructs.analytics_storage import CLOUDFRONT_PREFIX, INGESTED_PREFIXES, LAKE_PREFIX
from infra.constructs.analytics_warehouse_job import JOB_CPU, JOB_MEMORY_MIB, SCHEDULE
from infra.naming import (
    ALERTS_TOPIC,
    CDN_LOG_BUCKET,
    LAKE_BUCKET,
    LOG_DELIVERY_STREAM,
    LOG_SUBSCRIPTION_ROLE,
    RAW_BUCKET,
    function_name,
    log_group_name,
    shared,
)
from infra.stacks import publishing
from infra.stacks.analytics import AnalyticsStack
from ingest.lake import Lake
from ingest.pseudonymise import tables_with_addresses
from ingest.run import ingest
from ingest.sources import find_sources
from tests.infra.conftest import assert_every_role_bounded, resources_of, synth

RUN_JOB = Path(__file__).resolve().parents[2] / "infra" / "warehouse-job" / "run-job.sh"
# The warehouse build's measured peak (bench/RESULTS.md: 6,383 MiB).
MEASURED_BUILD_PEAK_MIB = 6383


@dataclasses.dataclass(frozen=True)
class Synthesised:
    config: DeployConfig
    template: Template

    @property
    def resources(self) -> dict[str, Any]:
        return dict(self.template.to_json()["Resources"])

    def of(self, kind: str) -> dict[str, Any]:
        return resources_of(self.template, kind)

    def parameter_target(self, what: tuple[str, str]) -> Any:
        """The value the stack publishes under a shared SSM parameter."""
        name = shared(self.config.env_name, what)
        found = [
            p["Properties"]["Value"]
            for p in self.of("AWS::SSM::Parameter").values()
            if p["Properties"]["Name"] == name
        ]
        assert len(found) == 1, f"{name} is published {len(found)} times"
        return found[0]

    def bucket(self, what: tuple[str, str]) -> tuple[str, dict[str, Any]]:
        """The bucket a shared parameter names (its Ref), and its properties."""
        reference = self.parameter_target(what)
        logical = reference["Ref"]
        resource = self.resources[logical]
        assert resource["Type"] == "AWS::S3::Bucket"
        return logical, resource["Properties"]

    def ingest_function(self) -> tuple[str, dict[str, Any]]:
        wanted = function_name(self.config.env_name, "ingest")
        found = [
            (logical, f["Properties"])
            for logical, f in self.of("AWS::Lambda::Function").items()
            if f["Properties"].get("FunctionName") == wanted
        ]
        assert len(found) == 1
        return found[0]

    def ingest_queue(self) -> tuple[str, dict[str, Any]]:
        """The queue the ingest function's event source mapping reads."""
        function, _ = self.ingest_function()
        mappings = [
            m["Properties"]
            for m in self.of("AWS::Lambda::EventSourceMapping").values()
            if m["Properties"]["FunctionName"] == {"Ref": function}
        ]
        assert len(mappings) == 1
        logical = mappings[0]["EventSourceArn"]["Fn::GetAtt"][0]
        return logical, self.resources[logical]["Properties"]


def _synthesise(config: DeployConfig, outdir: Path) -> Synthesised:
    _, template = synth(AnalyticsStack, config, outdir)
    return Synthesised(config, template)


@pytest.fixture(scope="module")
def prod(config: DeployConfig, tmp_path_factory: pytest.TempPathFactory) -> Synthesised:
    return _synthesise(config, tmp_path_factory.mktemp("prod"))


@pytest.fixture(scope="module")
def bare(bare_config: DeployConfig, tmp_path_factory: pytest.TempPathFactory) -> Synthesised:
    return _synthesise(bare_config, tmp_path_factory.mktemp("bare"))


@pytest.fixture(scope="module")
def short_retention(
    bare_config: DeployConfig, tmp_path_factory: pytest.TempPathFactory
) -> Synthesised:
    """Other retention days than the defaults, and a LAKE limit."""
    retention = Retention(raw_days=11, client_address_days=45, lake_days=400)
    config = dataclasses.replace(bare_config, env_name="short", retention=retention)
    return _synthesise(config, tmp_path_factory.mktemp("short"))


@pytest.fixture(params=["prod", "bare"])
def both(request: pytest.FixtureRequest) -> Synthesised:
    synthesised: Synthesised = request.getfixturevalue(str(request.param))
    return synthesised


def test_every_role_carries_the_permissions_boundary(both: Synthesised) -> None:
    assert_every_role_bounded(both.template)


def test_every_bucket_is_encrypted_and_refuses_plain_http(both: Synthesised) -> None:
    buckets = both.of("AWS::S3::Bucket")
    assert len(buckets) >= 3
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]["Statement"]
        for p in both.of("AWS::S3::BucketPolicy").values()
    }
    for logical, bucket in buckets.items():
        rules = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
        assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        denies_http = [
            s
            for s in policies.get(logical, [])
            if s["Effect"] == "Deny"
            and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert denies_http, f"bucket {logical} accepts requests without TLS"


def test_raw_is_the_cdn_log_bucket_with_acls_and_s3_managed_keys(both: Synthesised) -> None:
    raw, properties = both.bucket(RAW_BUCKET)
    assert both.parameter_target(CDN_LOG_BUCKET) == {"Ref": raw}
    # CloudFront standard logging (legacy) writes through an ACL and cannot use a CMK.
    assert properties["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerPreferred"}]
    sse = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert both.resources[raw]["DeletionPolicy"] == "Retain"


def test_lake_is_encrypted_with_a_rotated_customer_key(both: Synthesised) -> None:
    lake, properties = both.bucket(LAKE_BUCKET)
    sse = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    key = sse["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]["Fn::GetAtt"][0]
    assert both.resources[key]["Properties"]["EnableKeyRotation"] is True
    assert both.resources[key]["DeletionPolicy"] == "Retain"
    assert both.resources[lake]["DeletionPolicy"] == "Retain"


def _expirations(properties: dict[str, Any]) -> dict[str | None, int]:
    return {
        rule.get("Prefix"): rule["ExpirationInDays"]
        for rule in properties.get("LifecycleConfiguration", {}).get("Rules", [])
        if "ExpirationInDays" in rule
    }


@pytest.mark.parametrize("name", ["prod", "short_retention"])
def test_raw_expires_after_the_configured_raw_days(
    name: str, request: pytest.FixtureRequest
) -> None:
    synthesised: Synthesised = request.getfixturevalue(name)
    _, properties = synthesised.bucket(RAW_BUCKET)
    assert _expirations(properties) == {None: synthesised.config.retention.raw_days}


def test_lake_days_expire_only_the_tables_retention_ages_out(
    short_retention: Synthesised, bare: Synthesised
) -> None:
    _, properties = short_retention.bucket(LAKE_BUCKET)
    assert _expirations(properties) == {
        f"{LAKE_PREFIX}/{table}/": 400 for table in tables_with_addresses()
    }
    # lake_days unset (the default): nothing in the LAKE expires.
    _, properties = bare.bucket(LAKE_BUCKET)
    assert _expirations(properties) == {}


def test_the_queue_outlasts_six_ingest_timeouts_and_dead_letters(both: Synthesised) -> None:
    _, function = both.ingest_function()
    _, queue = both.ingest_queue()
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    redrive = queue["RedrivePolicy"]
    assert 1 <= redrive["maxReceiveCount"] <= 10
    dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert both.resources[dlq]["Type"] == "AWS::SQS::Queue"
    assert both.resources[dlq]["Properties"]["SqsManagedSseEnabled"] is True
    # S3 notifications cannot use the aws/sqs key: SQS-managed encryption instead.
    assert queue["SqsManagedSseEnabled"] is True
    assert "KmsMasterKeyId" not in queue


def test_the_ingest_function(both: Synthesised) -> None:
    function, properties = both.ingest_function()
    lake, _ = both.bucket(LAKE_BUCKET)
    assert properties["ReservedConcurrentExecutions"] == 1
    assert properties["MemorySize"] == INGEST_MEMORY_MB
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert properties["Handler"] == "ingest.lambda_handler.handler"
    assert properties["Environment"]["Variables"]["CERTSIGHT_LAKE"] == {
        "Fn::Join": ["", ["s3://", {"Ref": lake}, f"/{LAKE_PREFIX}"]]
    }
    both.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionName": {"Ref": function},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )
    both.template.has_resource_properties(
        "AWS::Logs::LogGroup",
        {
            "LogGroupName": log_group_name(both.config.env_name, "ingest"),
            "RetentionInDays": Match.any_value(),
        },
    )


def test_raw_notifies_the_queue_of_every_ingested_prefix(both: Synthesised) -> None:
    raw, _ = both.bucket(RAW_BUCKET)
    queue, _ = both.ingest_queue()
    notifications = [
        n["Properties"]
        for n in both.of("Custom::S3BucketNotifications").values()
        if n["Properties"]["BucketName"] == {"Ref": raw}
    ]
    assert len(notifications) == 1
    configurations = notifications[0]["NotificationConfiguration"]["QueueConfigurations"]
    prefixes = set()
    for configuration in configurations:
        assert configuration["QueueArn"] == {"Fn::GetAtt": [queue, "Arn"]}
        assert configuration["Events"] == ["s3:ObjectCreated:*"]
        rules = configuration["Filter"]["Key"]["FilterRules"]
        prefixes |= {r["Value"] for r in rules if r["Name"] == "prefix"}
    assert prefixes == {"cloudfront/", "lambda/"}


def test_the_cdn_stacks_log_under_a_prefix_raw_notifies() -> None:
    for stack_module in (validation_cdn, publishing):
        assert stack_module.LOG_PREFIX.startswith(CLOUDFRONT_PREFIX)


# One responder record as Powertools prints it in Lambda (docs/access-logs.md).
POWERTOOLS_RECORD = {
    "level": "INFO",
    "location": "handler:52",
    "message": "crl",
    "timestamp": "2026-11-28 09:05:17,509+0000",
    "service": "certsight-validation",
    "log": "crl",
    "event_time": "2026-11-28T09:05:17.507877Z",
    "request_id": "Kx3bKj1ZoAMEb1Q=",
    "source": "lambda",
    "adapter": "lambda",
    "client_ip": "198.51.100.7",
    "http_method": "GET",
    "path": "/crl/issuing-ca.crl",
    "http_status": 200,
    "request_bytes": 0,
    "response_bytes": 293,
    "latency_ms": 0.101,
    "object": "crl",
    "crl_name": "issuing-ca",
    "crl_number": 1,
    "issuer_key_sha1": "e01d53be866de8d396b1c6d0e811587ff9e04eb3",
    "not_modified": False,
}


def test_the_ingest_reads_an_object_as_firehose_names_and_writes_it(
    prod: Synthesised, tmp_path: Path
) -> None:
    """What the stream's configuration makes (its prefix, the extension, GZIP, one
    message per line) is found and read as records by the ingest, not quarantined."""
    _, stream = _stream(prod)
    destination = stream["ExtendedS3DestinationConfiguration"]
    prefix = destination["Prefix"].replace("!{timestamp:yyyy/MM/dd/HH}", "2026/11/28/09")
    name = "certsight-prod-responder-logs-1-2026-11-28-09-05-17-0f0e0d0c-1111-2222"
    key = f"{prefix}{name}{destination['FileExtension']}"
    raw = tmp_path / "raw"
    (raw / key).parent.mkdir(parents=True)
    lines = [json.dumps(POWERTOOLS_RECORD) + "\n", json.dumps(POWERTOOLS_RECORD) + "\n"]
    (raw / key).write_bytes(gzip.compress("".join(lines).encode()))
    found = find_sources([str(raw)])
    assert [Path(f.uri).relative_to(raw.resolve()).as_posix() for f in found] == [key]
    report = ingest(found, Lake.at(str(tmp_path / "lake")), lambda: datetime.now(UTC))
    (source,) = report.sources
    assert (source.records_read, source.records_written, source.quarantined) == (2, 2, 0)


def _stream(synthesised: Synthesised) -> tuple[str, dict[str, Any]]:
    streams = synthesised.of("AWS::KinesisFirehose::DeliveryStream")
    assert len(streams) == 1
    logical, stream = next(iter(streams.items()))
    return logical, stream["Properties"]


def test_firehose_writes_the_log_messages_as_gzipped_json_lines_into_raw(
    both: Synthesised,
) -> None:
    raw, _ = both.bucket(RAW_BUCKET)
    _, stream = _stream(both)
    assert stream["DeliveryStreamEncryptionConfigurationInput"]["KeyType"] == "AWS_OWNED_CMK"
    destination = stream["ExtendedS3DestinationConfiguration"]
    assert destination["BucketARN"] == {"Fn::GetAtt": [raw, "Arn"]}
    assert destination["CompressionFormat"] == "GZIP"
    assert destination["FileExtension"] == ".jsonl.gz"
    processors = destination["ProcessingConfiguration"]
    assert processors["Enabled"] is True
    assert [
        (p["Type"], {q["ParameterName"]: q["ParameterValue"] for q in p.get("Parameters", [])})
        for p in processors["Processors"]
    ] == [
        ("Decompression", {"CompressionFormat": "GZIP"}),
        ("CloudWatchLogProcessing", {"DataMessageExtraction": "true"}),
        ("AppendDelimiterToRecord", {}),
    ]
    # The objects land under a prefix RAW notifies the ingest of; errors do not.
    assert any(destination["Prefix"].startswith(p) for p in INGESTED_PREFIXES)
    assert not any(destination["ErrorOutputPrefix"].startswith(p) for p in INGESTED_PREFIXES)


def test_the_stream_and_role_are_published_for_the_log_groups_owners(
    both: Synthesised,
) -> None:
    """The validation and issuance stacks subscribe their own log groups (so this stack
    deploys first): it publishes the stream and the role they subscribe with, and makes
    no filter of its own on groups it does not own."""
    stream, _ = _stream(both)
    assert both.of("AWS::Logs::SubscriptionFilter") == {}
    published = {
        p["Properties"]["Name"]: p["Properties"]["Value"]
        for p in both.of("AWS::SSM::Parameter").values()
    }
    env = both.config.env_name
    assert published[shared(env, LOG_DELIVERY_STREAM)] == {"Fn::GetAtt": [stream, "Arn"]}
    role = published[shared(env, LOG_SUBSCRIPTION_ROLE)]["Fn::GetAtt"][0]
    trust = both.resources[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust[0]["Principal"] == {"Service": "logs.amazonaws.com"}
    both.template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": ["firehose:PutRecord", "firehose:PutRecordBatch"],
                                "Resource": {"Fn::GetAtt": [stream, "Arn"]},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_athena_workgroup_enforces_encrypted_results_and_a_scan_cutoff(
    both: Synthesised,
) -> None:
    workgroups = both.of("AWS::Athena::WorkGroup")
    assert len(workgroups) == 1
    configuration = next(iter(workgroups.values()))["Properties"]["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["BytesScannedCutoffPerQuery"] > 0
    results = configuration["ResultConfiguration"]
    assert results["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    key = results["EncryptionConfiguration"]["KmsKey"]["Fn::GetAtt"][0]
    assert both.resources[key]["Type"] == "AWS::KMS::Key"
    bucket = results["OutputLocation"]["Fn::Join"][1][1]["Ref"]
    assert both.resources[bucket]["Type"] == "AWS::S3::Bucket"


def test_the_glue_catalog_describes_the_lake(both: Synthesised) -> None:
    lake, _ = both.bucket(LAKE_BUCKET)
    databases = both.of("AWS::Glue::Database")
    assert len(databases) == 1
    location = next(iter(databases.values()))["Properties"]["DatabaseInput"]["LocationUri"]
    assert {"Ref": lake} in location["Fn::Join"][1]
    assert f"/{LAKE_PREFIX}/" in location["Fn::Join"][1]


def test_the_warehouse_job_is_a_scheduled_fargate_task_with_room_for_the_build(
    both: Synthesised,
) -> None:
    tasks = both.of("AWS::ECS::TaskDefinition")
    assert len(tasks) == 1
    task_id, task = next(iter(tasks.items()))
    properties = task["Properties"]
    assert properties["RequiresCompatibilities"] == ["FARGATE"]
    assert properties["Cpu"] == str(JOB_CPU)
    assert properties["Memory"] == str(JOB_MEMORY_MIB)
    assert int(properties["Memory"]) >= MEASURED_BUILD_PEAK_MIB * 1.5
    assert int(properties["Cpu"]) >= 2048
    (container,) = properties["ContainerDefinitions"]
    assert container["MountPoints"][0]["ContainerPath"] == "/data"
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert environment["CERTSIGHT_RAW_DAYS"] == str(both.config.retention.raw_days)
    assert "CERTSIGHT_ALERTS_TOPIC_ARN" in environment
    (volume,) = properties["Volumes"]
    efs = volume["EFSVolumeConfiguration"]
    assert efs["TransitEncryption"] == "ENABLED"
    assert efs["AuthorizationConfig"]["IAM"] == "ENABLED"

    schedules = both.of("AWS::Scheduler::Schedule")
    assert len(schedules) == 1
    schedule = next(iter(schedules.values()))["Properties"]
    assert schedule["ScheduleExpression"] == SCHEDULE
    assert schedule["State"] == "ENABLED"
    target = schedule["Target"]
    cluster = target["Arn"]["Fn::GetAtt"][0]
    assert both.resources[cluster]["Type"] == "AWS::ECS::Cluster"
    ecs = target["EcsParameters"]
    assert ecs["TaskDefinitionArn"] == {"Ref": task_id}
    assert ecs["LaunchType"] == "FARGATE"
    assert ecs["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"
    role = target["RoleArn"]["Fn::GetAtt"][0]
    both.template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": role}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Action": "ecs:RunTask", "Resource": {"Ref": task_id}})]
                )
            },
        },
    )


def test_the_job_image_comes_from_an_immutable_scanned_repository(both: Synthesised) -> None:
    repositories = both.of("AWS::ECR::Repository")
    assert len(repositories) == 1
    repository = next(iter(repositories.values()))
    assert repository["Properties"]["ImageTagMutability"] == "IMMUTABLE"
    assert repository["Properties"]["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert repository["DeletionPolicy"] == "Retain"


def test_the_job_home_is_an_encrypted_backed_up_file_system(both: Synthesised) -> None:
    file_systems = both.of("AWS::EFS::FileSystem")
    assert len(file_systems) == 1
    file_system = next(iter(file_systems.values()))
    assert file_system["Properties"]["Encrypted"] is True
    assert file_system["Properties"]["BackupPolicy"] == {"Status": "ENABLED"}
    assert file_system["DeletionPolicy"] == "Retain"
    both.template.has_resource_properties(
        "AWS::EFS::AccessPoint",
        {"PosixUser": {"Uid": "1000", "Gid": "1000"}},
    )


def test_the_job_network_has_no_route_out_but_the_endpoints(both: Synthesised) -> None:
    assert both.of("AWS::EC2::NatGateway") == {}
    assert both.of("AWS::EC2::InternetGateway") == {}
    services = [e["Properties"]["ServiceName"] for e in both.of("AWS::EC2::VPCEndpoint").values()]
    joined = " ".join(str(s) for s in services)
    for service in (".s3", ".ecr.api", ".ecr.dkr", ".logs", ".sns"):
        assert service in joined


def test_the_alerts_topic_is_encrypted_and_tls_only(both: Synthesised) -> None:
    topics = both.of("AWS::SNS::Topic")
    assert len(topics) == 2  # the detectors' alerts, and the operators' alarms
    topic_id = both.parameter_target(ALERTS_TOPIC)["Ref"]
    for topic in topics.values():
        key = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
        assert both.resources[key]["Properties"]["EnableKeyRotation"] is True
    both.template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [{"Ref": topic_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )
    subscriptions = both.of("AWS::SNS::Subscription")
    if both.config.alarm_email:
        assert {s["Properties"]["TopicArn"]["Ref"] for s in subscriptions.values()} == set(topics)
        assert {s["Properties"]["Endpoint"] for s in subscriptions.values()} == {
            both.config.alarm_email
        }
    else:
        assert subscriptions == {}


def test_dead_letters_and_failed_ingests_page_the_operators_not_the_alert_topic(
    both: Synthesised,
) -> None:
    """The alerts topic carries the detectors' findings (JSON a SIEM reads); an ingest
    that gives up on a RAW object is an operations matter, on the alarm topic."""
    alerts_topic = both.parameter_target(ALERTS_TOPIC)["Ref"]
    (alarm_topic,) = set(both.of("AWS::SNS::Topic")) - {alerts_topic}
    alarms = [a["Properties"] for a in both.of("AWS::CloudWatch::Alarm").values()]
    watched = {(a["Namespace"], a["MetricName"]): a for a in alarms}
    dead_letters = watched[("AWS/SQS", "ApproximateNumberOfMessagesVisible")]
    queue = dead_letters["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
    assert both.resources[queue]["Properties"]["QueueName"] == function_name(
        both.config.env_name, "ingest-dlq"
    )
    errors = watched[("AWS/Lambda", "Errors")]
    assert errors["Dimensions"][0]["Value"] == {"Ref": both.ingest_function()[0]}
    for alarm in (dead_letters, errors):
        assert alarm["Threshold"] == 1
        assert alarm["AlarmActions"] == [{"Ref": alarm_topic}]


def test_outputs_name_what_operators_and_pipelines_need(both: Synthesised) -> None:
    outputs = both.template.to_json()["Outputs"]
    assert {
        "RawBucketName",
        "LakeBucketName",
        "AthenaWorkGroup",
        "IngestQueueUrl",
        "WarehouseRepositoryUri",
    } <= set(outputs)


# run-job.sh, with stand-ins for the commands it runs.


@pytest.fixture
def job_home(tmp_path: Path) -> Iterator[tuple[Path, Path, dict[str, str]]]:
    """A HOME, a log of the commands run, and the task's environment."""
    home, bin_dir, log = tmp_path / "home", tmp_path / "bin", tmp_path / "commands.log"
    home.mkdir()
    bin_dir.mkdir()
    for command in ("certsight", "python"):
        stand_in = bin_dir / command
        stand_in.write_text(f'#!/bin/sh\necho "{command} $*" >> "{log}"\ncat >/dev/null\n')
        stand_in.chmod(0o755)
    environment = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "CERTSIGHT_HOME": str(home),
        "CERTSIGHT_LAKE": "s3://lake-bucket/lake",
        "CERTSIGHT_RAW": "s3://raw-bucket/cloudfront s3://raw-bucket/lambda",
        "CERTSIGHT_REPORTS": "s3://lake-bucket/reports",
        "CERTSIGHT_ALERTS_TOPIC_ARN": "arn:aws:sns:eu-west-1:111122223333:certsight-prod-alerts",
        "CERTSIGHT_RAW_DAYS": "11",
        "CERTSIGHT_CLIENT_ADDRESS_DAYS": "45",
        "CERTSIGHT_LAKE_DAYS": "400",
        "CERTSIGHT_ALERTS_MIN_SEVERITY": "medium",
    }
    yield home, log, environment


def _run_job(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(RUN_JOB)], env=environment, capture_output=True, text=True, check=False
    )


def test_run_job_retains_daily_then_builds_and_writes_reports(
    job_home: tuple[Path, Path, dict[str, str]],
) -> None:
    home, log, environment = job_home
    first = _run_job(environment)
    assert first.returncode == 0, first.stderr
    second = _run_job(environment)
    assert second.returncode == 0, second.stderr
    assert log.read_text().splitlines() == [
        "certsight lake retain --lake s3://lake-bucket/lake "
        "--raw s3://raw-bucket/cloudfront --raw s3://raw-bucket/lambda",
        "certsight build --lake s3://lake-bucket/lake",
        "python -",
        # The second run of the day: no retention again.
        "certsight build --lake s3://lake-bucket/lake",
        "python -",
    ]
    # The settings file it wrote is one certsight itself accepts, with these values.
    settings = CertsightSettings.load(Home(home))
    assert settings.privacy.raw_days == 11
    assert settings.privacy.client_address_days == 45
    assert settings.privacy.lake_days == 400
    reports = settings.reports.model_dump(by_alias=True)
    assert reports["destination"] == {"destination": "s3://lake-bucket/reports"}
    sns = settings.alerts.model_dump(by_alias=True)["sinks"]["sns"]
    assert sns == {
        "sns_topic_arn": environment["CERTSIGHT_ALERTS_TOPIC_ARN"],
        "sns_min_severity": "medium",
    }


def test_run_job_refuses_to_start_without_its_settings(
    job_home: tuple[Path, Path, dict[str, str]],
) -> None:
    _, log, environment = job_home
    del environment["CERTSIGHT_LAKE"]
    result = _run_job(environment)
    assert result.returncode != 0
    assert "CERTSIGHT_LAKE" in result.stderr
    assert not log.exists()
