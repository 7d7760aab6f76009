"""Tenancy: the environment's namespace and its guard rails.

Owns the Namespace (Pod Security ``restricted`` enforced), a ResourceQuota derived from
the worst case the workloads can reach (every autoscaler at max, plus a rolling-update
surge pod each, plus jobs and any extra pods), a LimitRange with defaults, and RBAC: a
namespaced Role bound to the environment's developer group only, so dev access grants
nothing in prod (prod developers get read-only, no exec).
"""

from __future__ import annotations

from collections.abc import Iterable

import pulumi
import pulumi_kubernetes as k8s

from infra.cluster import developer_group
from infra.config import StackConfig
from infra.platform.quantity import cpu_millis, format_cpu, format_memory, memory_mib
from infra.platform.spec import JOB_RESOURCES
from infra.specs import ContainerResources

__all__ = ["Tenancy", "quota_hard"]

_READ = ["get", "list", "watch"]


def _pods(cfg: StackConfig, extra: Iterable[ContainerResources]) -> list[ContainerResources]:
    # +1 each: maxSurge pod during a rollout. Jobs: migrate, backup (2 containers) and bucket init.
    pods = [cfg.api.resources] * (cfg.api.max_replicas + 1) + [cfg.worker.resources] * (cfg.worker.max_replicas + 1)
    return pods + [JOB_RESOURCES] * 4 + list(extra)


def quota_hard(cfg: StackConfig, extra: Iterable[ContainerResources] = ()) -> dict[str, str]:
    """ResourceQuota ``hard`` limits: the worst case plus 25% headroom (cert-manager solvers, debug pods)."""
    pods = _pods(cfg, extra)

    def total(attr: str, parse: type | object) -> int:
        return int(sum(parse(getattr(p, attr)) for p in pods) * 1.25)  # type: ignore[operator]

    return {
        "requests.cpu": format_cpu(total("cpu_request", cpu_millis)),
        "requests.memory": format_memory(total("memory_request", memory_mib)),
        "limits.cpu": format_cpu(total("cpu_limit", cpu_millis)),
        "limits.memory": format_memory(total("memory_limit", memory_mib)),
        "pods": str(int(len(pods) * 1.25) + 2),
        "services.loadbalancers": "0",  # traffic enters through the shared ingress controller only
        "services.nodeports": "0",
    }


class Tenancy(pulumi.ComponentResource):
    """Namespace + ResourceQuota + LimitRange + developer RBAC. Output: ``namespace`` (name)."""

    namespace: pulumi.Output[str]

    def __init__(self, name: str, cfg: StackConfig, extra_pods: tuple[ContainerResources, ...] = (),
                 opts: pulumi.ResourceOptions | None = None) -> None:
        cfg.validate()
        super().__init__("trellis:platform:Tenancy", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = k8s.core.v1.Namespace(f"{name}-ns", metadata={"name": cfg.namespace, "labels": {
            "trellis.io/environment": cfg.environment, "app.kubernetes.io/part-of": "trellis",
            "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest",
            # The AWS Load Balancer Controller adds readiness gates: rollouts wait until the ALB sees new pods healthy.
            **({"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"} if cfg.features.ingress_class == "alb" else {}),
        }}, opts=child)
        self.namespace = ns.metadata.apply(lambda m: m.name)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        meta = {"namespace": cfg.namespace}
        k8s.core.v1.ResourceQuota(f"{name}-quota", metadata={**meta, "name": "trellis-quota"},
                                  spec={"hard": quota_hard(cfg, extra_pods)}, opts=in_ns)
        k8s.core.v1.LimitRange(f"{name}-limits", metadata={**meta, "name": "trellis-limits"}, spec={"limits": [{
            "type": "Container",
            "default": {"cpu": "500m", "memory": "512Mi"},
            "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
            "max": {"cpu": "4", "memory": "8Gi"},
        }]}, opts=in_ns)
        self._rbac(name, cfg, in_ns)
        self.register_outputs({"namespace": self.namespace})

    @staticmethod
    def _rbac(name: str, cfg: StackConfig, opts: pulumi.ResourceOptions) -> None:
        rules = [
            {"apiGroups": [""], "resources": ["pods", "pods/log", "services", "endpoints", "events", "configmaps"],
             "verbs": _READ},
            {"apiGroups": ["apps", "batch", "autoscaling", "networking.k8s.io", "policy"],
             "resources": ["deployments", "replicasets", "statefulsets", "jobs", "cronjobs",
                           "horizontalpodautoscalers", "ingresses", "networkpolicies", "poddisruptionbudgets"],
             "verbs": _READ},
        ]
        if not cfg.is_prod:
            # Outside prod, developers may debug in place: exec, port-forward, restart and rerun jobs.
            rules += [
                {"apiGroups": [""], "resources": ["pods/exec", "pods/portforward"], "verbs": ["create"]},
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]},
                {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]},
                {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "delete"]},
            ]
        role = k8s.rbac.v1.Role(f"{name}-developer", metadata={"namespace": cfg.namespace,
                                                                "name": "trellis-developer"},
                                rules=rules, opts=opts)
        k8s.rbac.v1.RoleBinding(
            f"{name}-developer", metadata={"namespace": cfg.namespace, "name": "trellis-developer"},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "trellis-developer"},
            subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                       "name": developer_group(cfg.environment)}],
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[role])),
        )
