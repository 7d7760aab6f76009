"""The platform's inputs and shared vocabulary: typed args, names, labels, ports.

``PlatformArgs`` is everything the Kubernetes side needs from the rest of the stack;
``Backends`` describes where the data stores are (URLs as secrets, plus NetworkPolicy
peers so egress can be narrowed to them). Pure data and functions; no resources.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from infra.config import StackConfig
from infra.irsa import Oidc
from infra.platform.waivers import waivers
from infra.specs import ContainerResources

__all__ = [
    "API_PORT", "METRICS_PORT", "WORKER_HEALTH_PORT", "Backends", "Edge", "Irsa", "PlatformArgs", "Peer",
    "huey_queue_key", "labels", "selector", "service_account", "JOB_RESOURCES", "APP_UID",
]

API_PORT = 5001
# The API's /metrics and /ready answer only on this port (METRICS_PORT), which no Service the ingress routes
# to exposes: Prometheus and the kubelet reach it, the internet cannot.
METRICS_PORT = 9090
WORKER_HEALTH_PORT = 8081
APP_UID = 10001  # the image's non-root user (see Dockerfile)
JOB_RESOURCES = ContainerResources("100m", "256Mi", "500m", "512Mi")

Peer = Mapping[str, Any]  # a NetworkPolicyPeer (ipBlock / podSelector / namespaceSelector)


def huey_queue_key(huey_name: str) -> str:
    """The Redis list Huey's RedisStorage pushes tasks to: ``huey.redis.`` + name with [^a-z0-9] removed."""
    return "huey.redis." + re.sub("[^a-z0-9]", "", huey_name)


def selector(environment: str, component: str) -> dict[str, str]:
    """The stable labels a Deployment/Service/PDB/NetworkPolicy selects ``component`` pods by."""
    return {
        "app.kubernetes.io/name": "trellis",
        "app.kubernetes.io/instance": f"trellis-{environment}",
        "app.kubernetes.io/component": component,
    }


def service_account(component: str) -> str:
    """One ServiceAccount (and on AWS one IAM role) per workload: ``trellis-api``, ``trellis-worker``, ..."""
    return f"trellis-{component}"


def labels(environment: str, component: str) -> dict[str, str]:
    """Selector labels plus descriptive ones (never used in selectors, so they may change)."""
    return {**selector(environment, component), "app.kubernetes.io/part-of": "trellis",
            "app.kubernetes.io/managed-by": "pulumi", "trellis.io/environment": environment}


@dataclass(frozen=True)
class Backends:
    """Where the data stores are. URLs and passwords are secret Outputs.

    ``*_peers`` are NetworkPolicy peers for the store (ipBlocks on AWS, pod selectors
    in local mode); ``object_store_env`` adds non-secret S3 settings (region or endpoint),
    ``object_store_secret_env`` S3 credentials when there is no IRSA (local mode).
    """

    database_url: pulumi.Output[str]
    redis_url: pulumi.Output[str]
    redis_address: pulumi.Input[str]
    redis_password: pulumi.Output[str]
    redis_tls: bool
    bucket: pulumi.Input[str]
    database_peers: tuple[Peer, ...]
    redis_peers: tuple[Peer, ...]
    object_store_peers: tuple[Peer, ...]
    object_store_port: int = 443
    object_store_env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    object_store_secret_env: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    backup_bucket: pulumi.Input[str] | None = None  # None: dumps go to ``bucket`` (local mode)
    # Networks inside the deployment (the VPC): the internet egress rules exclude them, so "internet" never
    # means "anything in the VPC".
    internal_cidrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Irsa:
    """IAM Roles for Service Accounts: the cluster's OIDC provider and the buckets (and keys) the roles may reach."""

    oidc: Oidc
    bucket_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    backup_bucket_arn: pulumi.Input[str]
    backup_key_arn: pulumi.Input[str]


@dataclass(frozen=True)
class Edge:
    """How traffic enters: NetworkPolicy peers the API admits on its HTTP port (the ALB's subnets on AWS, the
    ingress controller's namespace locally), and the ALB's certificate and WAF web ACL when there is one."""

    ingress_peers: tuple[Peer, ...]
    certificate_arn: pulumi.Input[str] | None = None
    web_acl_arn: pulumi.Input[str] | None = None


@dataclass(frozen=True)
class PlatformArgs:
    """Inputs of ``Platform``. ``extra_pods`` are other pods in the namespace the quota must fit (local stores)."""

    config: StackConfig
    image: pulumi.Input[str]
    backends: Backends
    edge: Edge
    irsa: Irsa | None = None
    image_pinned: bool = False  # ``image`` carries a digest (what the kubelet pulls can never change)
    extra_pods: tuple[ContainerResources, ...] = ()
    addons: tuple[pulumi.Resource, ...] = ()

    def validate(self) -> None:
        self.config.validate()
        if not self.backends.database_peers or not self.backends.redis_peers:
            raise ValueError("Backends need NetworkPolicy peers for the database and Redis")

    @property
    def app_waivers(self) -> dict[str, str]:
        """Checkov waivers of the app's workloads (infra/platform/waivers.py): a digest satisfies the image checks."""
        return waivers("CKV_K8S_35", *(() if self.image_pinned else ("CKV_K8S_15", "CKV_K8S_43")))

    @property
    def object_store_url(self) -> pulumi.Output[str]:
        env = self.config.environment
        return pulumi.Output.from_input(self.backends.bucket).apply(lambda b: f"s3://{b}/{env}")
