"""Cache: ElastiCache Redis, the Huey queue and the run-event streams.

Owns a KMS key, a subnet group, a security group (6379 only from the given security
groups), a parameter group with ``maxmemory-policy noeviction`` (queued tasks and run
events must never be evicted), a generated auth token and the replication group (TLS in
transit, encrypted at rest; automatic failover and Multi-AZ when ``nodes >= 2``).
Outputs: ``address``, ``port``, ``auth_token`` (secret), ``replication_group_id`` and ``url`` (secret
``rediss://`` URL).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.specs import CacheConfig

__all__ = ["Cache", "CacheArgs"]


@dataclass(frozen=True)
class CacheArgs:
    """``protect`` guards the replication group against destroy."""

    config: CacheConfig
    vpc_id: pulumi.Input[str]
    subnet_ids: list[pulumi.Output[str]]
    client_security_group_ids: list[pulumi.Input[str]]
    protect: bool

    def validate(self) -> None:
        if not self.subnet_ids:
            raise ValueError("Cache needs subnets")
        if self.config.problems():
            raise ValueError("; ".join(self.config.problems()))


class Cache(pulumi.ComponentResource):
    """A private Redis replication group with TLS and AUTH."""

    address: pulumi.Output[str]
    port: int
    auth_token: pulumi.Output[str]
    url: pulumi.Output[str]

    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        args.validate()
        super().__init__("trellis:infra:Cache", name, None, opts)
        cfg, child, ha = args.config, pulumi.ResourceOptions(parent=self), args.config.nodes >= 2
        key = aws.kms.Key(f"{name}-key", description=f"{name} at rest", enable_key_rotation=True,
                          deletion_window_in_days=30, opts=child)
        subnets = aws.elasticache.SubnetGroup(f"{name}-subnets", subnet_ids=args.subnet_ids, opts=child)
        sg = aws.ec2.SecurityGroup(
            f"{name}-sg", vpc_id=args.vpc_id, description="Redis from the cluster only",
            ingress=[{"protocol": "tcp", "from_port": 6379, "to_port": 6379,
                      "security_groups": args.client_security_group_ids}],
            opts=child,
        )
        params = aws.elasticache.ParameterGroup(
            f"{name}-params", family=f"redis{cfg.engine_version.split('.')[0]}",
            parameters=[{"name": "maxmemory-policy", "value": "noeviction"}], opts=child,
        )
        # ElastiCache AUTH tokens allow only printable ASCII without '@', '"' or '/': keep it alphanumeric.
        token = random.RandomPassword(f"{name}-auth", length=48, special=False, opts=child)
        group = aws.elasticache.ReplicationGroup(
            f"{name}-redis", description=f"{name} Huey queue and run events", engine="redis",
            engine_version=cfg.engine_version, node_type=cfg.node_type, num_cache_clusters=cfg.nodes,
            automatic_failover_enabled=ha, multi_az_enabled=ha, port=6379, parameter_group_name=params.name,
            subnet_group_name=subnets.name, security_group_ids=[sg.id], at_rest_encryption_enabled=True,
            kms_key_id=key.arn, transit_encryption_enabled=True, auth_token=token.result,
            snapshot_retention_limit=cfg.snapshot_retention_days, auto_minor_version_upgrade=True,
            apply_immediately=not args.protect,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        self.address, self.port, self.auth_token = group.primary_endpoint_address, 6379, token.result
        self.replication_group_id = group.id  # its nodes are <id>-001, -002... (CloudWatch's CacheClusterId)
        self.url = pulumi.Output.secret(pulumi.Output.all(token.result, group.primary_endpoint_address).apply(
            lambda v: f"rediss://:{v[0]}@{v[1]}:6379/0"
        ))
        self.register_outputs({"address": self.address})
