"""The scheduled warehouse job: retention, ``certsight build`` (alerts included), reports.

Not a Lambda function: dbt, DuckDB, pyarrow and the report renderer are far past Lambda's
250 MB of unzipped code, and a full build peaks at 6.4 GB (bench/RESULTS.md), too close
to Lambda's 10 GB with nothing to spare for a growing LAKE. So a Fargate task started by
EventBridge Scheduler, whose HOME (warehouse.duckdb, the alert outbox, the report
schedule, the pseudonym key) lives on an encrypted EFS file system with backups.

Network: private isolated subnets, no NAT gateway and no internet route. The task
reaches S3 through a gateway endpoint (free) and ECR, CloudWatch Logs and SNS through
interface endpoints: the only services it calls (SNS and S3 call KMS themselves; the task
credentials come from the ECS agent, not STS). Four endpoints cost about as much as one
NAT gateway before its per-GB charge, and leave the job no path to anything else.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_efs as efs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.config import DeployConfig
from infra.constructs.analytics_storage import (
    INGESTED_PREFIXES,
    LAKE_PREFIX,
    REPORTS_PREFIX,
    nag_resource,
)
from infra.guardrails import acknowledge
from infra.naming import function_name

# 2 vCPU: the build's benchmarks ran on 2 cores (a 30-day full build: 155 s). 12 GiB:
# the measured 6.4 GB peak (DuckDB's 6 GB share plus Python) with room for reports and
# a LAKE that grows; Fargate allows 4 to 16 GiB with 2 vCPU.
JOB_CPU: Final = 2048
JOB_MEMORY_MIB: Final = 12288
DUCKDB_MEMORY_LIMIT: Final = "6GB"
# Every 15 minutes: alerts reach SNS within about 20 minutes of the log, and the rolling
# reports refresh as often as `certsight run` refreshes them (every 15 minutes). An
# hourly run would save little: a run costs about 1 cent (2 vCPU, 12 GiB, ~5 minutes).
# Runs never overlap: run-job.sh holds a lock on EFS and a second run exits at once.
SCHEDULE: Final = "rate(15 minutes)"
HOME_PATH: Final = "/data"
ALERTS_MIN_SEVERITY: Final = "medium"
JOB_UID: Final = "1000"  # the image's non-root user (infra/warehouse-job/Dockerfile)


class WarehouseJob(Construct):
    """VPC, EFS home, ECR repository, Fargate task definition and its schedule."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeployConfig,
        raw_bucket: s3.Bucket,
        lake_bucket: s3.Bucket,
        audit_bucket: s3.IBucket,
        alerts_topic: sns.Topic,
    ) -> None:
        super().__init__(scope, construct_id)
        env_name = config.env_name
        name = function_name(env_name, "warehouse")

        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="job", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                )
            ],
            # Nothing uses the default security group; restricting it needs a custom
            # resource function of its own.
            restrict_default_security_group=False,
            flow_logs={
                "rejected": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_s3(audit_bucket, "vpc-flow-logs/"),
                    traffic_type=ec2.FlowLogTrafficType.REJECT,
                )
            },
        )
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        self.task_security_group = ec2.SecurityGroup(
            self, "TaskSecurityGroup", vpc=self.vpc, description="certsight warehouse job"
        )
        # The interface endpoints answer the job's tasks only, not the whole VPC.
        endpoints = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="certsight warehouse job: interface endpoints",
            allow_all_outbound=False,
        )
        endpoints.add_ingress_rule(
            self.task_security_group, ec2.Port.tcp(443), "HTTPS from the job"
        )
        for endpoint_id, service in (
            ("EcrApi", ec2.InterfaceVpcEndpointAwsService.ECR),
            ("EcrDocker", ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER),
            ("Logs", ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS),
            ("Sns", ec2.InterfaceVpcEndpointAwsService.SNS),
        ):
            self.vpc.add_interface_endpoint(
                endpoint_id, service=service, security_groups=[endpoints], open=False
            )

        self.file_system = efs.FileSystem(
            self,
            "Home",
            vpc=self.vpc,
            encrypted=True,
            enable_automatic_backups=True,
            # DuckDB rewrites its file in bursts: elastic throughput instead of a burst
            # credit balance that a small file system hardly earns.
            throughput_mode=efs.ThroughputMode.ELASTIC,
            performance_mode=efs.PerformanceMode.GENERAL_PURPOSE,
            allow_anonymous_access=False,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.file_system.connections.allow_default_port_from(self.task_security_group)
        self.access_point = self.file_system.add_access_point(
            "HomeAccessPoint",
            path="/certsight",
            create_acl=efs.Acl(owner_uid=JOB_UID, owner_gid=JOB_UID, permissions="750"),
            posix_user=efs.PosixUser(uid=JOB_UID, gid=JOB_UID),
        )

        # The analytics pipeline builds infra/warehouse-job/Dockerfile and pushes it here
        # under a new tag (tags are immutable) before deploying with that tag.
        self.repository = ecr.Repository(
            self,
            "Repository",
            repository_name=name,
            image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            lifecycle_rules=[ecr.LifecycleRule(max_image_count=30)],
            removal_policy=RemovalPolicy.RETAIN,
        )

        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            cluster_name=name,
            vpc=self.vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        self.task = ecs.FargateTaskDefinition(
            self,
            "Task",
            family=name,
            cpu=JOB_CPU,
            memory_limit_mib=JOB_MEMORY_MIB,
            runtime_platform=ecs.RuntimePlatform(
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
                cpu_architecture=ecs.CpuArchitecture.X86_64,
            ),
            volumes=[
                ecs.Volume(
                    name="home",
                    efs_volume_configuration=ecs.EfsVolumeConfiguration(
                        file_system_id=self.file_system.file_system_id,
                        transit_encryption="ENABLED",
                        authorization_config=ecs.AuthorizationConfig(
                            access_point_id=self.access_point.access_point_id, iam="ENABLED"
                        ),
                    ),
                )
            ],
        )
        log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/certsight/{env_name}/warehouse-job",
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.RETAIN,
        )
        lake_uri = f"s3://{lake_bucket.bucket_name}/{LAKE_PREFIX}"
        retention = config.retention
        lake_days = "" if retention.lake_days is None else str(retention.lake_days)
        self.container = self.task.add_container(
            "Job",
            container_name="warehouse-job",
            image=ecs.ContainerImage.from_ecr_repository(
                self.repository, config.warehouse_image_tag
            ),
            logging=ecs.LogDrivers.aws_logs(stream_prefix="job", log_group=log_group),
            # Names, locations and limits only: no secret travels in the environment.
            # run-job.sh writes HOME/certsight.toml from these at every run.
            environment={
                "CERTSIGHT_HOME": HOME_PATH,
                "CERTSIGHT_LAKE": lake_uri,
                "CERTSIGHT_RAW": " ".join(
                    f"s3://{raw_bucket.bucket_name}/{p.rstrip('/')}" for p in INGESTED_PREFIXES
                ),
                "CERTSIGHT_REPORTS": f"s3://{lake_bucket.bucket_name}/{REPORTS_PREFIX}",
                "CERTSIGHT_ALERTS_TOPIC_ARN": alerts_topic.topic_arn,
                # Low alerts are a zone's churn (docs/warehouse.md): kept off the e-mail.
                "CERTSIGHT_ALERTS_MIN_SEVERITY": ALERTS_MIN_SEVERITY,
                "CERTSIGHT_RAW_DAYS": str(retention.raw_days),
                "CERTSIGHT_CLIENT_ADDRESS_DAYS": str(retention.client_address_days),
                "CERTSIGHT_LAKE_DAYS": lake_days,
                "CERTSIGHT_DUCKDB_MEMORY_LIMIT": DUCKDB_MEMORY_LIMIT,
                "AWS_REGION": Aws.REGION,
            },
        )
        self.container.add_mount_points(
            ecs.MountPoint(container_path=HOME_PATH, source_volume="home", read_only=False)
        )
        acknowledge(
            self.task,
            "AwsSolutions-ECS2",
            "The environment holds bucket names, a topic ARN and retention days, no "
            "secret; the job writes its settings file from them at each run.",
        )
        self._grant(raw_bucket, lake_bucket, alerts_topic)
        self.schedule = self._schedule(env_name)

    def _grant(self, raw_bucket: s3.Bucket, lake_bucket: s3.Bucket, topic: sns.Topic) -> None:
        """What ``lake retain``, ``build`` and the reports need (docs/lake.md, reports.md)."""
        role = self.task.task_role
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket", "s3:GetBucketLocation"],
                resources=[raw_bucket.bucket_arn, lake_bucket.bucket_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:DeleteObject"],
                resources=[raw_bucket.arn_for_objects(f"{p}*") for p in INGESTED_PREFIXES],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                resources=[lake_bucket.arn_for_objects(f"{LAKE_PREFIX}/*")],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                resources=[lake_bucket.arn_for_objects(f"{REPORTS_PREFIX}/*")],
            )
        )
        if lake_bucket.encryption_key is not None:
            lake_bucket.encryption_key.grant_encrypt_decrypt(role)
        topic.grant_publish(role)
        self.file_system.grant(
            role, "elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "Retention and the build read, rewrite and delete any object under the "
            "LAKE and RAW prefixes, and reports are new keys under their prefix.",
            findings=[
                *(nag_resource(raw_bucket, f"{p}*") for p in INGESTED_PREFIXES),
                nag_resource(lake_bucket, f"{LAKE_PREFIX}/*"),
                nag_resource(lake_bucket, f"{REPORTS_PREFIX}/*"),
                "Action::kms:GenerateDataKey*",
                "Action::kms:ReEncrypt*",
            ],
        )
        execution = self.task.obtain_execution_role()
        acknowledge(
            execution,
            "AwsSolutions-IAM5",
            "ecr:GetAuthorizationToken has no resource-level permissions: ECR accepts "
            "only '*' for it; image pulls are scoped to the job's repository.",
            findings=["Resource::*"],
        )

    def _schedule(self, env_name: str) -> scheduler.CfnSchedule:
        role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ),
            description="EventBridge Scheduler starts the warehouse job",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["ecs:RunTask"],
                resources=[self.task.task_definition_arn],
                conditions={"ArnEquals": {"ecs:cluster": self.cluster.cluster_arn}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[
                    self.task.task_role.role_arn,
                    self.task.obtain_execution_role().role_arn,
                ],
            )
        )
        subnets = self.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        return scheduler.CfnSchedule(
            self,
            "Schedule",
            name=function_name(env_name, "warehouse"),
            description="certsight: retention, warehouse build, alert delivery, reports",
            schedule_expression=SCHEDULE,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.cluster.cluster_arn,
                role_arn=role.role_arn,
                # A start that fails is tried twice more within 10 minutes; after that
                # the next run, 15 minutes later, does the same work.
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=2, maximum_event_age_in_seconds=600
                ),
                ecs_parameters=scheduler.CfnSchedule.EcsParametersProperty(
                    task_definition_arn=self.task.task_definition_arn,
                    launch_type="FARGATE",
                    platform_version="LATEST",
                    task_count=1,
                    network_configuration=scheduler.CfnSchedule.NetworkConfigurationProperty(
                        awsvpc_configuration=scheduler.CfnSchedule.AwsVpcConfigurationProperty(
                            subnets=subnets.subnet_ids,
                            security_groups=[self.task_security_group.security_group_id],
                            assign_public_ip="DISABLED",
                        )
                    ),
                ),
            ),
        )
