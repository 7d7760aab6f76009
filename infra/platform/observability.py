"""Observability: Prometheus scraping, and shipping the repository's alert rules and Grafana dashboard.

The rules and the dashboard have one source of truth, the files in ``ops/`` that
``tests/ops/`` checks with promtool and ``bench/dashboard.py`` renders:
``ops/prometheus/alerts.yml`` becomes the ``spec.groups`` of the ``trellis`` PrometheusRule and
``ops/grafana/trellis.json`` the ``trellis-dashboard`` ConfigMap, picked up by Grafana's sidecar
via the ``grafana_dashboard`` label. Both are read when the program runs, never at import, and
shipped unchanged. The ServiceMonitor scrapes ``/metrics`` on the port named ``metrics`` only: the
API's metrics port (9090, Service ``trellis-api-metrics``) and the worker's (8081), never a port the
Ingress routes to; it and the PrometheusRule need the Prometheus Operator
CRDs (``features.prometheus_operator``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra.platform.spec import PlatformArgs, labels

__all__ = ["OPS_DIR", "alert_groups", "create_observability", "dashboard_json"]

# infra/platform/observability.py -> the repository root. Pulumi runs the program from a checkout
# of the whole repository (Pulumi.yaml at the root, `main: infra/`), so ops/ sits beside infra/.
# Anchored on this file, not the working directory, which differs between Pulumi and the tests.
OPS_DIR = Path(__file__).resolve().parents[2] / "ops"
ALERTS_FILE = Path("prometheus") / "alerts.yml"
DASHBOARD_FILE = Path("grafana") / "trellis.json"


def alert_groups(ops_dir: Path = OPS_DIR) -> list[dict[str, Any]]:
    """The rule groups of ``<ops_dir>/prometheus/alerts.yml``, unchanged, for a PrometheusRule's ``spec.groups``.

    Reads the file on every call. Raises ``OSError`` if it is missing and ``ValueError`` if it
    is not a Prometheus rules file (a non-empty ``groups`` list of mappings with ``name`` and
    a ``rules`` list), so a broken file fails the run instead of shipping an empty rule set.
    """
    path = ops_dir / ALERTS_FILE
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    groups = loaded.get("groups") if isinstance(loaded, dict) else None
    if not isinstance(groups, list) or not groups:
        raise ValueError(f"{path}: expected a Prometheus rules file with a non-empty `groups:` list")
    for group in groups:
        if not (isinstance(group, dict) and group.get("name") and isinstance(group.get("rules"), list)):
            raise ValueError(f"{path}: every group needs a `name` and a `rules` list, got {group!r}")
    return groups


def dashboard_json(ops_dir: Path = OPS_DIR) -> str:
    """The text of ``<ops_dir>/grafana/trellis.json``, unchanged (checked to be a JSON object first).

    Reads the file on every call. Raises ``OSError`` if it is missing and ``ValueError`` if it is
    not a JSON object (Grafana's sidecar would otherwise skip it silently).
    """
    path = ops_dir / DASHBOARD_FILE
    text = path.read_text(encoding="utf-8")
    if not isinstance(json.loads(text), dict):  # json.JSONDecodeError is a ValueError
        raise ValueError(f"{path}: a Grafana dashboard is a JSON object")
    return text


def create_observability(name: str, args: PlatformArgs, opts: pulumi.ResourceOptions) -> None:
    """Create the dashboard ConfigMap and, with the Prometheus Operator, the ServiceMonitor and PrometheusRule.

    Reads and checks both ``ops/`` files before creating any of these, in every stack, so a broken
    file fails the local stack too (see ``alert_groups`` and ``dashboard_json`` for the errors).
    """
    cfg = args.config
    dashboard, groups = dashboard_json(), alert_groups()
    meta = {"namespace": cfg.namespace, "labels": labels(cfg.environment, "observability")}
    k8s.core.v1.ConfigMap(f"{name}-dashboard", metadata={
        **meta, "name": "trellis-dashboard", "labels": {**meta["labels"], "grafana_dashboard": "1"},
    }, data={DASHBOARD_FILE.name: dashboard}, opts=opts)
    if not cfg.features.prometheus_operator:
        return
    k8s.apiextensions.CustomResource(
        f"{name}-servicemonitor", api_version="monitoring.coreos.com/v1", kind="ServiceMonitor",
        metadata={**meta, "name": "trellis"},
        spec={
            "selector": {"matchLabels": {"app.kubernetes.io/instance": f"trellis-{cfg.environment}"}},
            "namespaceSelector": {"matchNames": [cfg.namespace]},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s"}],
        }, opts=opts,
    )
    k8s.apiextensions.CustomResource(
        f"{name}-alerts", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
        metadata={**meta, "name": "trellis"}, spec={"groups": groups}, opts=opts,
    )
