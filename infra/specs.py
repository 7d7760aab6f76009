"""Per-concern configuration records, parts of ``StackConfig`` (see ``infra/config.py``).

Each record is a frozen dataclass with safe dev-sized defaults and a ``problems()``
method returning the reasons it is invalid; the stack files override the sizes.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "ApiConfig", "CacheConfig", "ClusterConfig", "ContainerResources", "DatabaseConfig", "DOCUMENTATION_NETWORKS",
    "FeaturesConfig", "LogShipping", "NetworkConfig", "NodeGroupConfig", "StorageConfig", "WorkerConfig",
    "cidr_problems",
]

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Mi|Gi)?$")
# RFC 5737 / RFC 3849 ranges: reserved for examples, never a real network an operator connects from.
DOCUMENTATION_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"))


def cidr_problems(where: str, cidrs: tuple[str, ...]) -> list[str]:
    """Reasons ``cidrs`` are unusable: not a CIDR, or inside a documentation range."""
    found = []
    for text in cidrs:
        try:
            net = ipaddress.ip_network(text)
        except ValueError:
            found.append(f"{where}: {text!r} is not a CIDR")
            continue
        if any(net.version == doc.version and net.subnet_of(doc) for doc in DOCUMENTATION_NETWORKS):  # type: ignore[arg-type]
            found.append(f"{where}: {text} is a documentation range, not a real network")
    return found


@dataclass(frozen=True)
class NetworkConfig:
    """VPC layout: one public and one private subnet per AZ."""

    cidr: str = "10.40.0.0/16"
    az_count: int = 3
    nat_per_az: bool = False  # False: one shared NAT gateway (cheap, not zone-redundant)

    def problems(self) -> list[str]:
        try:
            net = ipaddress.ip_network(self.cidr)
        except ValueError:
            return [f"network.cidr {self.cidr!r} is not a CIDR"]
        found = [] if net.prefixlen <= 18 else ["network.cidr must be /18 or larger"]
        if not 2 <= self.az_count <= 4:
            found.append("network.azCount must be 2-4")
        return found


@dataclass(frozen=True)
class NodeGroupConfig:
    """One EKS managed node group."""

    name: str = "general"
    instance_types: tuple[str, ...] = ("t3.large",)
    min_size: int = 2
    desired_size: int = 3
    max_size: int = 5
    capacity_type: str = "ON_DEMAND"

    def problems(self) -> list[str]:
        if not self.min_size <= self.desired_size <= self.max_size:
            return [f"node group {self.name}: need minSize <= desiredSize <= maxSize"]
        return []


@dataclass(frozen=True)
class ClusterConfig:
    """EKS control plane and nodes. ``version`` is also the schema version manifests are validated against."""

    version: str = "1.33"
    node_groups: tuple[NodeGroupConfig, ...] = (NodeGroupConfig(),)
    # Who may reach the public API endpoint (authentication is still IAM). prod must name real networks.
    public_access_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    developer_role_arns: tuple[str, ...] = ()
    # IAM roles (operators, CI, break-glass) given cluster-admin through EKS access entries, so access does not
    # hinge on whoever happened to create the cluster.
    admin_role_arns: tuple[str, ...] = ()
    log_retention_days: int = 30

    def problems(self) -> list[str]:
        found = [] if re.fullmatch(r"1\.(2[5-9]|3[0-7])", self.version) else ["cluster.version must be 1.25-1.37"]
        found += cidr_problems("cluster.publicAccessCidrs", self.public_access_cidrs)
        arn = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/.+")
        found += [f"cluster: {a!r} is not an IAM role ARN" for a in self.admin_role_arns + self.developer_role_arns
                  if not arn.fullmatch(a)]
        if not self.node_groups:
            found.append("cluster.nodeGroups must not be empty")
        for group in self.node_groups:
            found.extend(group.problems())
        return found


@dataclass(frozen=True)
class DatabaseConfig:
    """RDS PostgreSQL."""

    # The major version only: RDS picks the newest minor and auto-upgrades minors, so a pinned minor would make
    # the next `up` ask RDS for a downgrade it refuses.
    engine_version: str = "16"
    instance_class: str = "db.t4g.medium"
    allocated_gb: int = 20
    max_allocated_gb: int = 100
    multi_az: bool = False
    deletion_protection: bool = False
    backup_retention_days: int = 7
    maintenance_work_mem_mb: int = 256  # HNSW index builds (pgvector) are bounded by this

    def problems(self) -> list[str]:
        found = [] if re.fullmatch(r"1[6-9]", self.engine_version) else [
            "database.engineVersion must be a PostgreSQL major version >= 16 without minor (e.g. '16')"]
        if self.max_allocated_gb < self.allocated_gb:
            found.append("database.maxAllocatedGb must be >= allocatedGb")
        if not 1 <= self.backup_retention_days <= 35:
            found.append("database.backupRetentionDays must be 1-35")
        return found


@dataclass(frozen=True)
class CacheConfig:
    """ElastiCache Redis replication group. ``nodes`` >= 2 turns on failover and Multi-AZ."""

    engine_version: str = "7.1"
    node_type: str = "cache.t4g.small"
    nodes: int = 1
    snapshot_retention_days: int = 1

    def problems(self) -> list[str]:
        found = [] if 1 <= self.nodes <= 6 else ["cache.nodes must be 1-6"]
        if not re.fullmatch(r"[67]\.\d+", self.engine_version):  # ElastiCache manages the patch level itself
            found.append("cache.engineVersion must be major.minor (e.g. '7.1'), no patch level")
        return found


@dataclass(frozen=True)
class StorageConfig:
    """S3 object store (uploads, documents, backups)."""

    noncurrent_version_days: int = 30
    backup_retention_days: int = 14  # database dumps in their own bucket, expired after this many days
    replica_region: str | None = None  # set: cross-region replication to a bucket there

    def problems(self) -> list[str]:
        return [] if self.noncurrent_version_days >= 1 else ["storage.noncurrentVersionDays must be >= 1"]


@dataclass(frozen=True)
class ContainerResources:
    """Requests and limits of one container, as Kubernetes quantities."""

    cpu_request: str = "250m"
    memory_request: str = "512Mi"
    cpu_limit: str = "1"
    memory_limit: str = "1Gi"

    def problems(self) -> list[str]:
        values = (self.cpu_request, self.memory_request, self.cpu_limit, self.memory_limit)
        return [f"{v!r} is not a quantity" for v in values if not _QUANTITY.match(v)]


@dataclass(frozen=True)
class ApiConfig:
    """The API Deployment (gunicorn on 5001) and its CPU autoscaling."""

    replicas: int = 2
    max_replicas: int = 6
    target_cpu_percent: int = 70
    grace_seconds: int = 60  # gunicorn graceful timeout + endpoint removal
    # RATE_LIMIT_PER_SECOND / RATE_LIMIT_BURST: the app's per-key token bucket (0 would switch it off).
    rate_limit_per_second: float = 20.0
    rate_limit_burst: int = 50
    resources: ContainerResources = field(default_factory=ContainerResources)

    def problems(self) -> list[str]:
        found = [] if self.replicas >= 2 else ["api.replicas must be >= 2 (HA)"]
        if self.rate_limit_per_second <= 0 or self.rate_limit_burst < 1:
            found.append("api.rateLimitPerSecond must be > 0 and rateLimitBurst >= 1")
        if self.max_replicas < self.replicas:
            found.append("api.maxReplicas must be >= replicas")
        return found + self.resources.problems()


@dataclass(frozen=True)
class WorkerConfig:
    """The Huey worker Deployment and its queue-length autoscaling."""

    replicas: int = 3
    max_replicas: int = 10
    queue_threshold: int = 100  # queued tasks per worker replica before scaling out
    target_cpu_percent: int = 75
    drain_seconds: int = 120  # WORKER_DRAIN_SECONDS: how long a worker finishes running tasks
    huey_name: str = "trellis"
    resources: ContainerResources = field(
        default_factory=lambda: ContainerResources("500m", "1Gi", "2", "2Gi")
    )

    def problems(self) -> list[str]:
        found = [] if 1 <= self.replicas <= self.max_replicas else ["worker: need 1 <= replicas <= maxReplicas"]
        if self.drain_seconds < 10:
            found.append("worker.drainSeconds must be >= 10")
        return found + self.resources.problems()


class LogShipping(StrEnum):
    """Who ships container logs (one shipper per environment). ``fluent_bit``: the addons layer's Fluent Bit;
    ``container_insights``: the amazon-cloudwatch-observability add-on (``infra/insights.py``, installed in every
    AWS environment for its metrics) ships them too, and no Fluent Bit is installed."""

    FLUENT_BIT = "fluent-bit"
    CONTAINER_INSIGHTS = "container-insights"
    NONE = "none"


@dataclass(frozen=True)
class FeaturesConfig:
    """Switches for cluster add-ons the platform integrates with."""

    install_addons: bool = True  # helm-install the AWS Load Balancer Controller, KEDA, kube-prometheus-stack, ...
    keda: bool = True  # False: CPU HPA for workers instead of the queue-length ScaledObject
    cert_manager: bool = False  # ACME certificates for a non-ALB ingress class (ALB uses ACM instead)
    prometheus_operator: bool = True  # ServiceMonitor, PrometheusRule
    ingress: bool = True
    ingress_class: str = "alb"  # "alb": AWS Load Balancer Controller; anything else: a generic Ingress
    waf: bool = False  # an AWS WAF web ACL (managed rules + per-IP rate limit) on the ALB
    waf_rate_limit: int = 2000  # requests per client IP per 5 minutes (the WAF rate-based rule)
    backups: bool = True
    log_shipping: LogShipping = LogShipping.FLUENT_BIT
    prometheus_storage_gb: int = 50  # Prometheus TSDB on a gp3 PersistentVolume (0: emptyDir)
