"""CloudWatch views of one environment as plain data: the alarms that page a person and the dashboard body.

Pure functions over resolved identifiers (``MonitoringTargets``), so they are tested directly; the Monitoring
component (``infra/monitoring.py``) resolves the identifiers from the program's resources and creates the
resources from this data. The body follows CloudWatch's documented dashboard structure (``widgets`` of type
``metric``/``text`` with ``width``/``height`` in a 24-column grid, ``properties.metrics`` as arrays of
namespace, metric name and dimension name/value pairs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["AlarmSpec", "MonitoringTargets", "Thresholds", "alarm_specs", "dashboard_body"]

GIB = 1024 ** 3


class Thresholds(Protocol):
    """What ``alarm_specs`` reads (``infra.monitoring_config.AlarmThresholds`` has these fields)."""

    rds_free_storage_gib: float
    rds_connections: int
    cache_evictions: int
    cache_memory_percent: float
    lb5xx: int
    lb_unhealthy_targets: int
    lb_response_seconds: float
    nodes_not_ready: int


@dataclass(frozen=True)
class MonitoringTargets:
    """The resolved identifiers the dashboard and alarms are drawn from (plain strings)."""

    environment: str
    region: str
    cluster_name: str
    db_instance_id: str
    cache_member_ids: tuple[str, ...]
    bucket_name: str
    nat_gateway_ids: tuple[str, ...] = ()
    db_replica_ids: tuple[str, ...] = ()
    load_balancer: str | None = None
    target_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm, as data: the metric, how it is compared, and why it pages."""

    key: str
    namespace: str
    metric: str
    dimensions: dict[str, str]
    statistic: str
    comparison: str
    threshold: float
    meaning: str


def alarm_specs(t: MonitoringTargets, th: Thresholds) -> list[AlarmSpec]:
    """The alarms of one environment. Memory is per cache node; unhealthy targets per target group."""
    db = {"DBInstanceIdentifier": t.db_instance_id}
    specs = [
        AlarmSpec("rds-free-storage", "AWS/RDS", "FreeStorageSpace", db, "Minimum", "LessThanThreshold",
                  th.rds_free_storage_gib * GIB, "the database is running out of disk"),
        AlarmSpec("rds-connections", "AWS/RDS", "DatabaseConnections", db, "Maximum", "GreaterThanThreshold",
                  th.rds_connections, "the database is near its connection limit"),
        AlarmSpec("nodes-not-ready", "ContainerInsights", "cluster_failed_node_count",
                  {"ClusterName": t.cluster_name}, "Maximum", "GreaterThanOrEqualToThreshold",
                  th.nodes_not_ready, "a Kubernetes node is not ready"),
    ]
    for i, member in enumerate(t.cache_member_ids):
        node = {"CacheClusterId": member}
        specs += [
            AlarmSpec(f"cache-evictions-{i}", "AWS/ElastiCache", "Evictions", node, "Sum",
                      "GreaterThanOrEqualToThreshold", th.cache_evictions, "Redis is evicting keys: queued work "
                      "and run events can be lost"),
            AlarmSpec(f"cache-memory-{i}", "AWS/ElastiCache", "DatabaseMemoryUsagePercentage", node,
                      "Maximum", "GreaterThanThreshold", th.cache_memory_percent, "Redis memory is nearly full"),
        ]
    if t.load_balancer:
        lb = {"LoadBalancer": t.load_balancer}
        specs += [AlarmSpec("lb-5xx", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", lb, "Sum",
                            "GreaterThanThreshold", th.lb5xx, "the API answers with server errors"),
                  # p95 of the time until the API starts answering (an event stream's headers come at once).
                  AlarmSpec("lb-response-time", "AWS/ApplicationELB", "TargetResponseTime", lb, "p95",
                            "GreaterThanThreshold", th.lb_response_seconds, "the API is slow to answer")]
        specs += [AlarmSpec(f"lb-unhealthy-{i}", "AWS/ApplicationELB", "UnHealthyHostCount",
                            {**lb, "TargetGroup": tg}, "Maximum", "GreaterThanOrEqualToThreshold",
                            th.lb_unhealthy_targets, "API targets fail their health check")
                  for i, tg in enumerate(t.target_groups)]
    return specs


def _widget(title: str, metrics: list[list[Any]], region: str, *, stat: str = "Average",
            width: int = 8) -> dict[str, Any]:
    return {"type": "metric", "width": width, "height": 6,
            "properties": {"title": title, "region": region, "stat": stat, "period": 300, "view": "timeSeries",
                           "stacked": False, "metrics": metrics}}


def _text(markdown: str) -> dict[str, Any]:
    return {"type": "text", "width": 24, "height": 1, "properties": {"markdown": markdown}}


def _per(namespace: str, metric: str, dim: str, ids: Sequence[str]) -> list[list[Any]]:
    return [[namespace, metric, dim, i] for i in ids]


def dashboard_body(t: MonitoringTargets) -> dict[str, Any]:
    """The dashboard as CloudWatch's documented body: rows by layer, platform first, then the app's edge."""
    r, db, cache = t.region, ("DBInstanceIdentifier", t.db_instance_id), t.cache_member_ids
    dbs = (t.db_instance_id, *t.db_replica_ids)
    eks = ("ClusterName", t.cluster_name)
    widgets = [
        _text(f"## Trellis {t.environment}: database"),
        _widget("RDS CPU %", _per("AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", dbs), r),
        _widget("RDS free storage (bytes)", [["AWS/RDS", "FreeStorageSpace", *db]], r, stat="Minimum"),
        _widget("RDS connections", _per("AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", dbs), r,
                stat="Maximum"),
        _widget("RDS read / write latency (s)", [["AWS/RDS", "ReadLatency", *db], ["AWS/RDS", "WriteLatency", *db]],
                r, width=12 if t.db_replica_ids else 24),
        # Only where there are read replicas (none by default): a primary has no replica lag.
        _widget("RDS replica lag (s)", _per("AWS/RDS", "ReplicaLag", "DBInstanceIdentifier", t.db_replica_ids), r,
                stat="Maximum", width=12),
        _text(f"## Trellis {t.environment}: cache (Redis: queue and run events)"),
        _widget("Redis memory %", _per("AWS/ElastiCache", "DatabaseMemoryUsagePercentage", "CacheClusterId", cache),
                r, stat="Maximum"),
        _widget("Redis evictions", _per("AWS/ElastiCache", "Evictions", "CacheClusterId", cache), r, stat="Sum"),
        _widget("Redis connections", _per("AWS/ElastiCache", "CurrConnections", "CacheClusterId", cache), r),
        _widget("Redis CPU %", _per("AWS/ElastiCache", "EngineCPUUtilization", "CacheClusterId", cache), r,
                width=12),
        _widget("Redis replication lag (s)", _per("AWS/ElastiCache", "ReplicationLag", "CacheClusterId", cache), r,
                stat="Maximum", width=12),
        _text(f"## Trellis {t.environment}: cluster (Container Insights) and network"),
        _widget("Nodes: ready / failed", [["ContainerInsights", "cluster_node_count", *eks],
                                          ["ContainerInsights", "cluster_failed_node_count", *eks]], r),
        _widget("Node CPU / memory %", [["ContainerInsights", "node_cpu_utilization", *eks],
                                        ["ContainerInsights", "node_memory_utilization", *eks]], r),
        _widget("Pods: running / restarts", [["ContainerInsights", "cluster_number_of_running_pods", *eks],
                                             ["ContainerInsights", "pod_number_of_container_restarts", *eks]], r),
        _widget("NAT errors / dropped packets", [m for n in t.nat_gateway_ids for m in (
            ["AWS/NATGateway", "ErrorPortAllocation", "NatGatewayId", n],
            ["AWS/NATGateway", "PacketsDropCount", "NatGatewayId", n])], r, stat="Sum", width=12),
        _widget("S3 size (bytes, daily)", [["AWS/S3", "BucketSizeBytes", "BucketName", t.bucket_name,
                                            "StorageType", "StandardStorage"]], r, width=6),
        _widget("S3 4xx / 5xx", [["AWS/S3", "4xxErrors", "BucketName", t.bucket_name, "FilterId", "EntireBucket"],
                                 ["AWS/S3", "5xxErrors", "BucketName", t.bucket_name, "FilterId", "EntireBucket"]],
                r, stat="Sum", width=6),
    ]
    if t.load_balancer:
        lb = ("LoadBalancer", t.load_balancer)
        widgets += [
            _text(f"## Trellis {t.environment}: the API's load balancer"),
            _widget("Requests", [["AWS/ApplicationELB", "RequestCount", *lb]], r, stat="Sum"),
            _widget("4xx / 5xx", [["AWS/ApplicationELB", "HTTPCode_Target_4XX_Count", *lb],
                                  ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", *lb],
                                  ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", *lb]], r, stat="Sum"),
            _widget("Target response time p95 (s)", [["AWS/ApplicationELB", "TargetResponseTime", *lb]], r,
                    stat="p95"),
            _widget("Unhealthy targets", [["AWS/ApplicationELB", "UnHealthyHostCount", *lb, "TargetGroup", tg]
                                          for tg in t.target_groups] or [["AWS/ApplicationELB",
                                                                          "UnHealthyHostCount", *lb]],
                    r, stat="Maximum", width=24),
        ]
    # A metric widget without metrics (no NAT gateway, say) is invalid in a body: leave it out.
    widgets = [w for w in widgets if w["type"] != "metric" or w["properties"]["metrics"]]
    return {"start": "-PT6H", "periodOverride": "inherit", "widgets": widgets}
