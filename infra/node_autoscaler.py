"""Node autoscaling: the Kubernetes Cluster Autoscaler for the managed node groups (cluster layer).

Pods the HPAs and KEDA add beyond what the nodes fit stay Pending until a node joins; the Cluster
Autoscaler watches for them and raises the node group's ``desiredSize`` (within ``minSize``/``maxSize``),
and removes nodes that stay underused. It discovers the groups by the tags EKS puts on their Auto
Scaling groups (``k8s.io/cluster-autoscaler/<cluster>``), runs with its own IRSA role (see
``infra.permissions``) and uses the image minor that matches the cluster's. Why this and not Karpenter
or EKS Auto Mode: docs/deploy.md ("Node autoscaling").
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.irsa import Oidc, irsa_role
from infra.permissions import cluster_autoscaler_policy

__all__ = ["AUTOSCALER_CHART", "NodeAutoscaler", "NodeAutoscalerArgs", "autoscaler_values"]

AUTOSCALER_CHART = ("cluster-autoscaler", "9.46.6", "https://kubernetes.github.io/autoscaler")
_NAMESPACE, _ACCOUNT = "kube-system", "cluster-autoscaler"


@dataclass(frozen=True)
class NodeAutoscalerArgs:
    cluster_name: pulumi.Input[str]
    kubernetes_version: str  # "1.33": the autoscaler image must match the control plane's minor
    region: str
    oidc: Oidc


def autoscaler_values(cluster_name: str, version: str, region: str, role_arn: str) -> dict[str, object]:
    """Helm values: auto-discovery by cluster name, similar groups balanced across zones, least-waste expander."""
    return {
        "cloudProvider": "aws", "awsRegion": region, "autoDiscovery": {"clusterName": cluster_name},
        "image": {"tag": f"v{version}.0"},
        "rbac": {"serviceAccount": {"name": _ACCOUNT, "annotations": {"eks.amazonaws.com/role-arn": role_arn}}},
        "extraArgs": {"balance-similar-node-groups": "true", "expander": "least-waste",
                      "skip-nodes-with-system-pods": "false", "scale-down-unneeded-time": "10m"},
        "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"cpu": "500m", "memory": "600Mi"}},
        "priorityClassName": "system-cluster-critical",
    }


class NodeAutoscaler(pulumi.ComponentResource):
    """The Cluster Autoscaler release and its IAM role. Kubernetes objects use the provider in ``opts``."""

    def __init__(self, name: str, args: NodeAutoscalerArgs, opts: pulumi.ResourceOptions) -> None:
        super().__init__("trellis:infra:NodeAutoscaler", name, None, opts)
        aws_opts = pulumi.ResourceOptions(parent=self)
        role = irsa_role(name, args.oidc, _NAMESPACE, _ACCOUNT, pulumi.Output.from_input(args.cluster_name).apply(
            cluster_autoscaler_policy), aws_opts)
        chart, version, repo = AUTOSCALER_CHART
        values = pulumi.Output.all(args.cluster_name, role.arn).apply(
            lambda v: autoscaler_values(v[0], args.kubernetes_version, args.region, v[1]))
        k8s.helm.v3.Release(f"{name}-release", name=chart, chart=chart, version=version, namespace=_NAMESPACE,
                            repository_opts={"repo": repo}, values=values, atomic=True, timeout=600,
                            opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})
