"""Cluster add-ons the platform relies on (the addons layer; optional in local mode).

Helm releases, pinned here: the AWS Load Balancer Controller (ALBs for Ingresses, with ACM
certificates and optional WAF; replaces the retired ingress-nginx), KEDA (queue autoscaling),
kube-prometheus-stack (Prometheus Operator CRDs, Prometheus on a gp3 PersistentVolume,
Alertmanager, Grafana with the dashboard sidecar), Fluent Bit shipping container logs to one
CloudWatch Logs group, and cert-manager only for a non-ALB ingress class. On AWS each add-on that
calls AWS has its own IRSA role. metrics-server, the EBS CSI driver and the node autoscaler belong to
the cluster layer (``infra/cluster.py``, ``infra/node_autoscaler.py``). Local mode assumes what the
existing cluster has and switches features off instead (see ``FeaturesConfig``).

One log shipper per environment: with ``features.logShipping: container-insights`` this module installs
no Fluent Bit, because the amazon-cloudwatch-observability add-on (``infra/insights.py``, same layer) ships
the logs; otherwise that add-on collects metrics only. ``log_retention_days`` is the environment's pod-log
retention (``trellis:monitoring.logRetentionDays``), whichever ships them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.irsa import Oidc, irsa_role
from infra.permissions import load_balancer_controller_policy, log_shipper_policy
from infra.specs import FeaturesConfig, LogShipping

__all__ = ["AddonsArgs", "CHARTS", "ClusterAddons", "KEDA_NAMESPACE", "LOCAL_INGRESS_NAMESPACE",
           "LOGGING_NAMESPACE", "MONITORING_NAMESPACE", "STORAGE_CLASS", "prometheus_values"]

MONITORING_NAMESPACE = "monitoring"
KEDA_NAMESPACE = "keda"
LOGGING_NAMESPACE = "logging"
CERT_MANAGER_NAMESPACE = "cert-manager"
SYSTEM_NAMESPACE = "kube-system"
# Local mode: the namespace of the cluster's own ingress controller (traffic to the API comes from there).
LOCAL_INGRESS_NAMESPACE = "ingress-nginx"
STORAGE_CLASS = "gp3"


@dataclass(frozen=True)
class Chart:
    name: str
    version: str
    repo: str
    namespace: str


CHARTS: dict[str, Chart] = {
    "load_balancer": Chart("aws-load-balancer-controller", "1.13.0", "https://aws.github.io/eks-charts",
                           SYSTEM_NAMESPACE),
    "cert_manager": Chart("cert-manager", "v1.16.1", "https://charts.jetstack.io", CERT_MANAGER_NAMESPACE),
    "keda": Chart("keda", "2.16.0", "https://kedacore.github.io/charts", KEDA_NAMESPACE),
    "prometheus_operator": Chart("kube-prometheus-stack", "65.1.1",
                                 "https://prometheus-community.github.io/helm-charts", MONITORING_NAMESPACE),
    "logs": Chart("aws-for-fluent-bit", "0.1.34", "https://aws.github.io/eks-charts", LOGGING_NAMESPACE),
}


@dataclass(frozen=True)
class AddonsArgs:
    """``oidc`` None means local mode: nothing that needs AWS (ALB controller, Fluent Bit, gp3) is installed."""

    features: FeaturesConfig
    cluster_name: pulumi.Input[str] = ""
    region: str = ""
    vpc_id: pulumi.Input[str] = ""
    oidc: Oidc | None = None
    log_retention_days: int = 30
    retain_volumes: bool = False  # prod: a deleted claim keeps its EBS volume (Prometheus history survives mistakes)


def prometheus_values(storage_gb: int, persistent: bool) -> dict[str, Any]:
    """kube-prometheus-stack values: watch every namespace; keep the TSDB on a PersistentVolume when ``persistent``
    (a restart otherwise loses the history alerts and dashboards read)."""
    spec: dict[str, Any] = {"serviceMonitorSelectorNilUsesHelmValues": False, "ruleSelectorNilUsesHelmValues": False,
                            "retention": "15d"}
    if persistent and storage_gb > 0:
        spec["retentionSize"] = f"{int(storage_gb * 0.85)}GB"  # below the volume size: the TSDB never fills it
        spec["storageSpec"] = {"volumeClaimTemplate": {"spec": {
            "storageClassName": STORAGE_CLASS, "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": f"{storage_gb}Gi"}}}}}
    return {"prometheus": {"prometheusSpec": spec},
            "grafana": {"sidecar": {"dashboards": {"enabled": True, "searchNamespace": "ALL"}}}}


class ClusterAddons(pulumi.ComponentResource):
    """One Helm release per enabled add-on; ``releases`` lets CRs depend on their CRDs."""

    releases: list[k8s.helm.v3.Release]

    def __init__(self, name: str, args: AddonsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("trellis:platform:ClusterAddons", name, None, opts)
        self._name, self._args = name, args
        features, on_aws = args.features, args.oidc is not None
        self.releases = []
        if on_aws and features.ingress:
            self._release("load_balancer", self._load_balancer_values())
        if features.cert_manager:
            self._release("cert_manager", {"crds": {"enabled": True}})
        if features.keda:
            self._release("keda", {})
        if on_aws and features.prometheus_storage_gb > 0:
            k8s.storage.v1.StorageClass(f"{name}-gp3", metadata={"name": STORAGE_CLASS},
                                        provisioner="ebs.csi.aws.com", volume_binding_mode="WaitForFirstConsumer",
                                        allow_volume_expansion=True,
                                        reclaim_policy="Retain" if args.retain_volumes else "Delete",
                                        parameters={"type": "gp3", "encrypted": "true"},
                                        opts=pulumi.ResourceOptions(parent=self))
        if features.prometheus_operator:
            self._release("prometheus_operator", prometheus_values(features.prometheus_storage_gb, on_aws))
        if on_aws and features.log_shipping is LogShipping.FLUENT_BIT:
            self._release("logs", self._log_values())
        self.register_outputs({})

    def _release(self, key: str, values: pulumi.Input[dict[str, Any]]) -> None:
        chart = CHARTS[key]
        self.releases.append(k8s.helm.v3.Release(
            f"{self._name}-{chart.name}", name=chart.name, chart=chart.name, version=chart.version,
            namespace=chart.namespace, create_namespace=True, repository_opts={"repo": chart.repo},
            values=values, atomic=True, timeout=900, opts=pulumi.ResourceOptions(parent=self),
        ))

    def _role(self, key: str, account: str, policy: pulumi.Input[str]) -> aws.iam.Role:
        assert self._args.oidc is not None
        return irsa_role(f"{self._name}-{key}", self._args.oidc, CHARTS[key].namespace, account, policy,
                         pulumi.ResourceOptions(parent=self))

    def _load_balancer_values(self) -> pulumi.Output[dict[str, Any]]:
        account = "aws-load-balancer-controller"
        role = self._role("load_balancer", account, load_balancer_controller_policy())
        a = self._args
        return pulumi.Output.all(a.cluster_name, a.vpc_id, role.arn).apply(lambda v: {
            "clusterName": v[0], "region": a.region, "vpcId": v[1], "replicaCount": 2,
            "serviceAccount": {"name": account, "annotations": {"eks.amazonaws.com/role-arn": v[2]}},
            "enableServiceMutatorWebhook": False,  # Services stay ClusterIP; only Ingresses get load balancers
        })

    def _log_values(self) -> pulumi.Output[dict[str, Any]]:
        a = self._args
        group = aws.cloudwatch.LogGroup(
            f"{self._name}-containers", retention_in_days=a.log_retention_days,
            name=pulumi.Output.from_input(a.cluster_name).apply(lambda c: f"/aws/eks/{c}/containers"),
            opts=pulumi.ResourceOptions(parent=self))
        account = "aws-for-fluent-bit"
        role = self._role("logs", account, group.arn.apply(log_shipper_policy))
        return pulumi.Output.all(group.name, role.arn).apply(lambda v: {
            "cloudWatch": {"enabled": False}, "firehose": {"enabled": False}, "kinesis": {"enabled": False},
            "elasticsearch": {"enabled": False},
            "cloudWatchLogs": {"enabled": True, "region": a.region, "logGroupName": v[0], "autoCreateGroup": False,
                               "logStreamPrefix": "pod-"},
            "serviceAccount": {"name": account, "annotations": {"eks.amazonaws.com/role-arn": v[1]}},
        })
