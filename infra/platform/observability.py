"""Observability: Prometheus scraping, alert rules and the Grafana dashboard.

The metric names are the app's (``app/metrics.py``), scraped from ``/metrics`` on the API
(5001) and the worker (8081): ``trellis_http_requests_total{status}``,
``trellis_runs_finished_total{status}``, ``trellis_queue_wait_seconds`` (enqueue -> start),
``trellis_runs_reaped_total`` (runs swept after a lease expired: they were stuck) and
``trellis_worker_last_heartbeat_timestamp_seconds``. The ServiceMonitor and PrometheusRule
need the Prometheus Operator CRDs (``features.prometheus_operator``); the dashboard
ConfigMap is picked up by Grafana's sidecar via the ``grafana_dashboard`` label.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.platform.spec import PlatformArgs, labels

__all__ = ["create_observability", "alert_rules", "dashboard", "METRICS"]

METRICS = {
    "requests": "trellis_http_requests_total",
    "runs": "trellis_runs_finished_total",
    "queue_wait": "trellis_queue_wait_seconds_bucket",
    "reaped": "trellis_runs_reaped_total",
    "heartbeat": "trellis_worker_last_heartbeat_timestamp_seconds",
}


def alert_rules(namespace: str, max_queue_wait_seconds: int) -> list[dict[str, Any]]:
    """Alerts: run failure rate, queue backlog (wait before a worker starts), stuck runs, stale workers, API 5xx."""
    sel = f'namespace="{namespace}"'
    runs, requests = METRICS["runs"], METRICS["requests"]
    return [
        {"alert": "TrellisWorkerErrorRate", "for": "10m", "labels": {"severity": "warning"},
         "expr": f'sum(rate({runs}{{{sel},status="failed"}}[10m])) / clamp_min(sum(rate({runs}{{{sel}}}[10m])), 1e-9)'
                 " > 0.05",
         "annotations": {"summary": "More than 5% of workflow runs fail"}},
        {"alert": "TrellisQueueBacklog", "for": "15m", "labels": {"severity": "warning"},
         "expr": f'histogram_quantile(0.9, sum by (le) (rate({METRICS["queue_wait"]}{{{sel}}}[5m]))) '
                 f"> {max_queue_wait_seconds}",
         "annotations": {"summary": "Runs wait in the queue although workers autoscale"}},
        {"alert": "TrellisStuckRuns", "for": "0m", "labels": {"severity": "critical"},
         "expr": f'sum(increase({METRICS["reaped"]}{{{sel}}}[15m])) > 3',
         "annotations": {"summary": "Runs keep losing their lease and are being reaped"}},
        {"alert": "TrellisWorkerHeartbeatStale", "for": "5m", "labels": {"severity": "critical"},
         "expr": f'time() - max({METRICS["heartbeat"]}{{{sel}}}) > 120',
         "annotations": {"summary": "No worker has renewed leases for two minutes"}},
        {"alert": "TrellisApiErrors", "for": "10m", "labels": {"severity": "warning"},
         "expr": f'sum(rate({requests}{{{sel},status=~"5.."}}[5m])) / '
                 f"clamp_min(sum(rate({requests}{{{sel}}}[5m])), 1e-9) > 0.02",
         "annotations": {"summary": "More than 2% of API requests fail with 5xx"}},
    ]


def dashboard(namespace: str) -> dict[str, Any]:
    """A small Grafana dashboard (JSON model) over the metrics above."""
    sel = f'namespace="{namespace}"'
    panels = [
        ("Requests/s by status", f'sum by (status) (rate({METRICS["requests"]}{{{sel}}}[5m]))'),
        ("Queue wait p90 (s)",
         f'histogram_quantile(0.9, sum by (le) (rate({METRICS["queue_wait"]}{{{sel}}}[5m])))'),
        ("Runs/s by status", f'sum by (status) (rate({METRICS["runs"]}{{{sel}}}[5m]))'),
        ("Runs reaped", f'sum(increase({METRICS["reaped"]}{{{sel}}}[15m]))'),
        ("Worker replicas", f'kube_deployment_status_replicas{{{sel},deployment="trellis-worker"}}'),
        ("API replicas", f'kube_deployment_status_replicas{{{sel},deployment="trellis-api"}}'),
    ]
    return {
        "title": f"Trellis ({namespace})", "uid": f"trellis-{namespace}"[:40], "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "panels": [{"id": i + 1, "type": "timeseries", "title": title,
                    "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
                    "targets": [{"expr": expr, "refId": "A"}]} for i, (title, expr) in enumerate(panels)],
    }


def create_observability(name: str, args: PlatformArgs, opts: pulumi.ResourceOptions) -> None:
    cfg = args.config
    meta = {"namespace": cfg.namespace, "labels": labels(cfg.environment, "observability")}
    k8s.core.v1.ConfigMap(f"{name}-dashboard", metadata={
        **meta, "name": "trellis-dashboard", "labels": {**meta["labels"], "grafana_dashboard": "1"},
    }, data={"trellis.json": json.dumps(dashboard(cfg.namespace), indent=1)}, opts=opts)
    if not cfg.features.prometheus_operator:
        return
    k8s.apiextensions.CustomResource(
        f"{name}-servicemonitor", api_version="monitoring.coreos.com/v1", kind="ServiceMonitor",
        metadata={**meta, "name": "trellis"},
        spec={
            "selector": {"matchLabels": {"app.kubernetes.io/instance": f"trellis-{cfg.environment}"}},
            "namespaceSelector": {"matchNames": [cfg.namespace]},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"},
                          {"port": "metrics", "path": "/metrics", "interval": "30s"}],
        }, opts=opts,
    )
    k8s.apiextensions.CustomResource(
        f"{name}-alerts", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
        metadata={**meta, "name": "trellis"},
        spec={"groups": [{"name": "trellis", "rules": alert_rules(cfg.namespace, 60)}]},
        opts=opts,
    )
