"""Availability: how many API and worker pods run, and how many may be disrupted.

- API: an ``autoscaling/v2`` HPA on CPU between ``api.replicas`` and ``api.max_replicas``.
- Worker, KEDA on: a ``ScaledObject`` on the Huey Redis list (``huey.redis.<name>``,
  ``queue_threshold`` tasks per replica) plus a CPU trigger, with a ``TriggerAuthentication``
  reading the Redis password from its own Secret. KEDA off: a CPU HPA as the fallback.
- PodDisruptionBudgets keeping all but one pod of each component through node drains.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.platform.api import API_NAME
from infra.platform.spec import PlatformArgs, huey_queue_key, labels, selector
from infra.platform.worker import WORKER_NAME

__all__ = ["create_autoscaling", "create_disruption_budgets", "KEDA_SECRET"]

KEDA_SECRET = "trellis-keda-redis"


def _hpa(name: str, args: PlatformArgs, component: str, target: str, bounds: tuple[int, int, int],
         opts: pulumi.ResourceOptions) -> k8s.autoscaling.v2.HorizontalPodAutoscaler:
    low, high, cpu = bounds
    cfg = args.config
    return k8s.autoscaling.v2.HorizontalPodAutoscaler(f"{name}-{component}-hpa", metadata={
        "name": target, "namespace": cfg.namespace, "labels": labels(cfg.environment, component),
    }, spec={
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "minReplicas": low, "maxReplicas": high,
        "metrics": [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu}}}],
        # Scale in slowly: a run that lands on a pod being removed waits for its drain.
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300,
                                   "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}},
    }, opts=opts)


def create_autoscaling(name: str, args: PlatformArgs, opts: pulumi.ResourceOptions) -> None:
    """Create the API HPA and the worker ScaledObject (or CPU HPA when KEDA is off)."""
    cfg = args.config
    _hpa(name, args, "api", API_NAME, (cfg.api.replicas, cfg.api.max_replicas, cfg.api.target_cpu_percent), opts)
    bounds = (cfg.worker.replicas, cfg.worker.max_replicas, cfg.worker.target_cpu_percent)
    if not cfg.features.keda:
        _hpa(name, args, "worker", WORKER_NAME, bounds, opts)
        return
    meta = {"namespace": cfg.namespace, "labels": labels(cfg.environment, "worker")}
    secret = k8s.core.v1.Secret(f"{name}-keda-redis", metadata={**meta, "name": KEDA_SECRET}, type="Opaque",
                                string_data={"password": pulumi.Output.secret(args.backends.redis_password)},
                                opts=opts)
    auth = k8s.apiextensions.CustomResource(
        f"{name}-keda-auth", api_version="keda.sh/v1alpha1", kind="TriggerAuthentication",
        metadata={**meta, "name": "trellis-redis"},
        spec={"secretTargetRef": [{"parameter": "password", "name": KEDA_SECRET, "key": "password"}]},
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[secret])),
    )
    k8s.apiextensions.CustomResource(
        f"{name}-worker-scaler", api_version="keda.sh/v1alpha1", kind="ScaledObject",
        metadata={**meta, "name": WORKER_NAME}, spec=scaled_object_spec(args),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[auth])),
    )


def scaled_object_spec(args: PlatformArgs) -> dict[str, Any]:
    """KEDA spec: Redis list length per replica, a CPU floor trigger, and a fixed fallback if Redis is unreadable."""
    w, b = args.config.worker, args.backends
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": WORKER_NAME},
        "minReplicaCount": w.replicas,
        "maxReplicaCount": w.max_replicas,
        "pollingInterval": 15,
        "cooldownPeriod": 300,
        "fallback": {"failureThreshold": 3, "replicas": max(w.replicas, w.max_replicas // 2)},
        "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": {
            "stabilizationWindowSeconds": 300, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}}},
        "triggers": [
            {"type": "redis", "name": "huey-queue", "authenticationRef": {"name": "trellis-redis"}, "metadata": {
                "address": pulumi.Output.from_input(b.redis_address),
                "listName": huey_queue_key(w.huey_name),
                "listLength": str(w.queue_threshold),
                "databaseIndex": "0",
                "enableTLS": "true" if b.redis_tls else "false",
            }},
            {"type": "cpu", "metricType": "Utilization", "metadata": {"value": str(w.target_cpu_percent)}},
        ],
    }


def create_disruption_budgets(name: str, args: PlatformArgs, opts: pulumi.ResourceOptions) -> None:
    """At most one API pod and one worker pod voluntarily disrupted at a time."""
    cfg = args.config
    for component, target in (("api", API_NAME), ("worker", WORKER_NAME)):
        k8s.policy.v1.PodDisruptionBudget(f"{name}-{component}-pdb", metadata={
            "name": target, "namespace": cfg.namespace, "labels": labels(cfg.environment, component),
        }, spec={"maxUnavailable": 1, "selector": {"matchLabels": selector(cfg.environment, component)}}, opts=opts)
