"""Worker: the Huey consumer Deployment and a Service exposing its metrics port.

Contract with the image: ``python -m worker.main`` starts ``huey_consumer`` (thread
workers, graceful on SIGTERM, no duplicate periodic scheduling) plus a small HTTP server
on 8081 with ``/health``, ``/ready`` and ``/metrics``. On SIGTERM it stops taking tasks
and finishes running ones within ``WORKER_DRAIN_SECONDS``; the pod's grace period is
that plus a margin, so Kubernetes never SIGKILLs a draining worker.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from infra.platform.pods import (
    container,
    deployment_spec,
    http_probe,
    scratch_volumes,
)
from infra.platform.spec import WORKER_HEALTH_PORT, PlatformArgs, labels, selector, service_account

__all__ = ["create_worker", "WORKER_NAME", "DRAIN_MARGIN_SECONDS", "grace_period"]

WORKER_NAME = "trellis-worker"
WORKER_COMMAND = ("python", "-m", "worker.main")
DRAIN_MARGIN_SECONDS = 30  # leases released, logs flushed, connections closed after the drain


def grace_period(drain_seconds: int) -> int:
    """terminationGracePeriodSeconds for a worker that drains for ``drain_seconds``."""
    return drain_seconds + DRAIN_MARGIN_SECONDS


def create_worker(name: str, args: PlatformArgs, config_hash: pulumi.Input[str],
                  after: Sequence[pulumi.Resource], opts: pulumi.ResourceOptions) -> k8s.apps.v1.Deployment:
    """Create the worker Deployment and its metrics Service; waits for ``after`` (migrations)."""
    cfg = args.config
    match = selector(cfg.environment, "worker")
    volumes, mounts = scratch_volumes()
    worker = container(
        "worker", args.image, WORKER_COMMAND, cfg.worker.resources,
        ports=[{"name": "metrics", "containerPort": WORKER_HEALTH_PORT, "protocol": "TCP"}],
        volumeMounts=mounts,
        startupProbe=http_probe("/health", "metrics", period=5, failures=24),
        livenessProbe=http_probe("/health", "metrics", period=15, failures=4),
        readinessProbe=http_probe("/ready", "metrics", period=10, failures=2),
    )
    deployment = k8s.apps.v1.Deployment(
        f"{name}-worker",
        metadata={"name": WORKER_NAME, "namespace": cfg.namespace, "labels": labels(cfg.environment, "worker"),
                  "annotations": args.app_waivers},
        spec=deployment_spec(replicas=cfg.worker.replicas, match=match, pod_labels=labels(cfg.environment, "worker"),
                             config_hash=config_hash, service_account=service_account("worker"),
                             grace_seconds=grace_period(cfg.worker.drain_seconds), spread_strictly=cfg.is_prod,
                             main=worker, volumes=volumes),
        # KEDA or the HPA owns the replica count once running.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(after),
                                                                       ignore_changes=["spec.replicas"])),
    )
    k8s.core.v1.Service(f"{name}-worker-metrics", metadata={
        "name": f"{WORKER_NAME}-metrics", "namespace": cfg.namespace, "labels": labels(cfg.environment, "worker"),
    }, spec={"type": "ClusterIP", "selector": match, "ports": [
        {"name": "metrics", "port": WORKER_HEALTH_PORT, "targetPort": "metrics", "protocol": "TCP"},
    ]}, opts=opts)
    return deployment
