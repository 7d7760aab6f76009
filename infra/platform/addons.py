"""Cluster add-ons the platform relies on, installed as Helm releases (aws stacks; optional).

ingress-nginx (the Ingress class), cert-manager (TLS), KEDA (queue autoscaling) and
kube-prometheus-stack (Prometheus Operator CRDs, Prometheus, Alertmanager, Grafana with the
dashboard sidecar). Chart versions are pinned here. Local mode assumes what the existing
cluster has and switches features off instead (see ``FeaturesConfig``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.specs import FeaturesConfig

__all__ = ["ClusterAddons", "INGRESS_NAMESPACE", "MONITORING_NAMESPACE", "KEDA_NAMESPACE", "CHARTS"]

INGRESS_NAMESPACE = "ingress-nginx"
MONITORING_NAMESPACE = "monitoring"
KEDA_NAMESPACE = "keda"
CERT_MANAGER_NAMESPACE = "cert-manager"


@dataclass(frozen=True)
class Chart:
    name: str
    version: str
    repo: str
    namespace: str
    values: dict[str, Any]


CHARTS: dict[str, Chart] = {
    "ingress": Chart("ingress-nginx", "4.11.3", "https://kubernetes.github.io/ingress-nginx", INGRESS_NAMESPACE, {
        "controller": {"replicaCount": 2, "metrics": {"enabled": True},
                       "config": {"use-forwarded-headers": "true"}}}),
    "cert_manager": Chart("cert-manager", "v1.16.1", "https://charts.jetstack.io", CERT_MANAGER_NAMESPACE, {
        "crds": {"enabled": True}}),
    "keda": Chart("keda", "2.16.0", "https://kedacore.github.io/charts", KEDA_NAMESPACE, {}),
    "prometheus_operator": Chart(
        "kube-prometheus-stack", "65.1.1", "https://prometheus-community.github.io/helm-charts",
        MONITORING_NAMESPACE, {
            # Pick up ServiceMonitors/PrometheusRules from every namespace, not only the chart's release.
            "prometheus": {"prometheusSpec": {"serviceMonitorSelectorNilUsesHelmValues": False,
                                              "ruleSelectorNilUsesHelmValues": False}},
            "grafana": {"sidecar": {"dashboards": {"enabled": True, "searchNamespace": "ALL"}}},
        }),
}


class ClusterAddons(pulumi.ComponentResource):
    """One Helm release per enabled add-on; ``releases`` lets CRs depend on their CRDs."""

    releases: list[k8s.helm.v3.Release]

    def __init__(self, name: str, features: FeaturesConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("trellis:platform:ClusterAddons", name, None, opts)
        enabled = {"ingress": features.ingress, "cert_manager": features.cert_manager, "keda": features.keda,
                   "prometheus_operator": features.prometheus_operator}
        self.releases = [
            k8s.helm.v3.Release(
                f"{name}-{chart.name}", name=chart.name, chart=chart.name, version=chart.version,
                namespace=chart.namespace, create_namespace=True,
                repository_opts={"repo": chart.repo}, values=chart.values, atomic=True, timeout=900,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for key, chart in CHARTS.items() if enabled[key]
        ]
        self.register_outputs({})
