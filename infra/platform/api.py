"""API: the gunicorn Deployment (port 5001), its ClusterIP Service and a separate metrics Service.

Contract with the image: ``gunicorn -c gunicorn.conf.py wsgi:app`` serves on ``$PORT``
with ``/health`` (liveness: the process serves); with ``METRICS_PORT`` set it also listens there and
answers ``/ready`` (readiness: database and queue reachable) and ``/metrics`` only on that port, and
stops cleanly on SIGTERM. The ``trellis-api`` Service (what the Ingress routes to) exposes only the HTTP
port; ``trellis-api-metrics`` exposes only the metrics port, for Prometheus. Rolling updates never drop below the
desired count (maxUnavailable 0); pods spread over zones. The Deployment waits for
``after`` (the migration Job) so new code never runs against an old schema.
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
from infra.platform.spec import API_PORT, METRICS_PORT, PlatformArgs, labels, selector, service_account

__all__ = ["create_api", "API_NAME", "API_METRICS_NAME"]

API_NAME = "trellis-api"
API_METRICS_NAME = "trellis-api-metrics"
API_COMMAND = ("gunicorn", "-c", "gunicorn.conf.py", "wsgi:app")
PRESTOP_SECONDS = 15


def create_api(name: str, args: PlatformArgs, config_hash: pulumi.Input[str], after: Sequence[pulumi.Resource],
               opts: pulumi.ResourceOptions) -> k8s.apps.v1.Deployment:
    """Create the API Deployment and Service; ``after`` must complete before the Deployment rolls."""
    cfg = args.config
    match = selector(cfg.environment, "api")
    volumes, mounts = scratch_volumes()
    api = container(
        "api", args.image, API_COMMAND, cfg.api.resources,
        ports=[{"name": "http", "containerPort": API_PORT, "protocol": "TCP"},
               {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        volumeMounts=mounts,
        startupProbe=http_probe("/health", "http", period=5, failures=24),
        livenessProbe=http_probe("/health", "http", period=10, failures=3),
        readinessProbe=http_probe("/ready", "metrics", period=5, failures=2),
        # The load balancer keeps sending until it has deregistered the pod (the ALB: up to its 10 s
        # deregistration delay plus propagation), so the pod keeps serving that long before gunicorn drains.
        lifecycle={"preStop": {"sleep": {"seconds": PRESTOP_SECONDS}}},
    )
    deployment = k8s.apps.v1.Deployment(
        f"{name}-api",
        metadata={"name": API_NAME, "namespace": cfg.namespace, "labels": labels(cfg.environment, "api"),
                  "annotations": args.app_waivers},
        spec=deployment_spec(replicas=cfg.api.replicas, match=match, pod_labels=labels(cfg.environment, "api"),
                             config_hash=config_hash, service_account=service_account("api"),
                             grace_seconds=cfg.api.grace_seconds, spread_strictly=cfg.is_prod,
                             main=api, volumes=volumes),
        # The HPA owns the replica count once running; Pulumi sets only the initial value.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(after),
                                                                       ignore_changes=["spec.replicas"])),
    )
    k8s.core.v1.Service(f"{name}-api", metadata={
        "name": API_NAME, "namespace": cfg.namespace, "labels": labels(cfg.environment, "api"),
    }, spec={"type": "ClusterIP", "selector": match,
             "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}, opts=opts)
    k8s.core.v1.Service(f"{name}-api-metrics", metadata={
        "name": API_METRICS_NAME, "namespace": cfg.namespace, "labels": labels(cfg.environment, "api"),
    }, spec={"type": "ClusterIP", "selector": match,
             "ports": [{"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"}]},
        opts=opts)
    return deployment

