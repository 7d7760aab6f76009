"""Database: RDS PostgreSQL (major version from config, e.g. 16) in the private subnets.

Owns a KMS key, a subnet group, a security group (5432 only from the given security
groups), a parameter group tuned for pgvector and forcing TLS, a generated master
password and the instance. Prod settings (Multi-AZ, deletion protection, 30-day
backups, final snapshot, ``protect``) come from ``DatabaseConfig`` and ``protect``.
Outputs: ``address``, ``port``, ``endpoint``, ``instance_id`` and ``url`` (secret ``postgresql://`` URL).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.specs import DatabaseConfig

__all__ = ["Database", "DatabaseArgs", "DB_NAME", "DB_USER"]

DB_NAME = "trellis"
DB_USER = "trellis"


@dataclass(frozen=True)
class DatabaseArgs:
    """``client_security_group_ids`` may reach 5432; ``protect`` guards the instance against destroy."""

    config: DatabaseConfig
    vpc_id: pulumi.Input[str]
    subnet_ids: list[pulumi.Output[str]]
    client_security_group_ids: list[pulumi.Input[str]]
    protect: bool

    def validate(self) -> None:
        if len(self.subnet_ids) < 2:
            raise ValueError("RDS needs subnets in at least two AZs")
        if self.config.problems():
            raise ValueError("; ".join(self.config.problems()))


class Database(pulumi.ComponentResource):
    """An encrypted, private PostgreSQL 16 instance with Performance Insights."""

    address: pulumi.Output[str]
    port: pulumi.Output[int]
    endpoint: pulumi.Output[str]
    url: pulumi.Output[str]

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        args.validate()
        super().__init__("trellis:infra:Database", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        key = aws.kms.Key(f"{name}-key", description=f"{name} storage and Performance Insights",
                          enable_key_rotation=True, deletion_window_in_days=30, opts=child)
        subnets = aws.rds.SubnetGroup(f"{name}-subnets", subnet_ids=args.subnet_ids, opts=child)
        sg = aws.ec2.SecurityGroup(
            f"{name}-sg", vpc_id=args.vpc_id, description="PostgreSQL from the cluster only",
            ingress=[{"protocol": "tcp", "from_port": 5432, "to_port": 5432,
                      "security_groups": args.client_security_group_ids}],
            opts=child,
        )
        params = aws.rds.ParameterGroup(f"{name}-params", family=f"postgres{cfg.engine_version}", parameters=[
            {"name": "rds.force_ssl", "value": "1"},
            # HNSW/IVFFlat index builds (pgvector) run in maintenance_work_mem; the default 64MB spills to disk.
            {"name": "maintenance_work_mem", "value": str(cfg.maintenance_work_mem_mb * 1024)},
            {"name": "max_parallel_maintenance_workers", "value": "2"},
            {"name": "shared_preload_libraries", "value": "pg_stat_statements", "apply_method": "pending-reboot"},
            {"name": "log_min_duration_statement", "value": "1000"},
        ], opts=child)
        password = random.RandomPassword(f"{name}-password", length=32, special=False, opts=child)
        instance = aws.rds.Instance(
            f"{name}-pg", engine="postgres",
            # Major only ("16"): RDS chooses and auto-upgrades the minor, and the provider does not diff a
            # newer minor against it, so no `up` ever asks for a downgrade.
            engine_version=cfg.engine_version, instance_class=cfg.instance_class,
            allocated_storage=cfg.allocated_gb, max_allocated_storage=cfg.max_allocated_gb, storage_type="gp3",
            storage_encrypted=True, kms_key_id=key.arn, db_name=DB_NAME, username=DB_USER,
            password=password.result, db_subnet_group_name=subnets.name, vpc_security_group_ids=[sg.id],
            parameter_group_name=params.name, publicly_accessible=False, multi_az=cfg.multi_az,
            deletion_protection=cfg.deletion_protection, backup_retention_period=cfg.backup_retention_days,
            skip_final_snapshot=not args.protect,
            final_snapshot_identifier=f"{name}-final" if args.protect else None,
            copy_tags_to_snapshot=True, auto_minor_version_upgrade=True, apply_immediately=not args.protect,
            performance_insights_enabled=True, performance_insights_kms_key_id=key.arn,
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        self.address, self.port, self.endpoint = instance.address, instance.port, instance.endpoint
        self.instance_id = instance.identifier  # CloudWatch's DBInstanceIdentifier (``id`` is the resource id)
        self.url = pulumi.Output.secret(pulumi.Output.all(password.result, instance.address, instance.port).apply(
            lambda v: f"postgresql://{DB_USER}:{v[0]}@{v[1]}:{int(v[2])}/{DB_NAME}?sslmode=require"
        ))
        self.register_outputs({"address": self.address, "port": self.port})
