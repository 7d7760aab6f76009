"""NetworkPolicies: default deny, then exactly the flows Trellis needs.

Ingress: the edge (the ALB's subnets on AWS, the ingress controller's namespace locally) -> API
HTTP port only, and ACME HTTP-01 solvers; Prometheus -> the API's and the worker's metrics ports
only. Egress: every pod -> cluster DNS; API, worker, migrate and backup -> database; API and
worker -> Redis; API, worker and backup -> object store (plus, on AWS, the VPC for the STS
endpoint); the worker -> the internet on 80/443 (LLM providers, HTTP nodes) and the API -> the
internet on 443 (the model provider: retrieval and hit-testing embed the query in the API
process). "The internet" excludes the VPC's own CIDR and the instance metadata service.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.platform.addons import MONITORING_NAMESPACE
from infra.platform.spec import API_PORT, METRICS_PORT, WORKER_HEALTH_PORT, Peer, PlatformArgs, labels

__all__ = ["create_network_policies", "namespace_peer", "components_selector", "internet"]

_METADATA_SERVICE = "169.254.169.254/32"


def namespace_peer(namespace: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}


def components_selector(environment: str, components: Sequence[str]) -> dict[str, Any]:
    """Pods of this Trellis instance whose component is one of ``components``."""
    return {"matchLabels": {"app.kubernetes.io/instance": f"trellis-{environment}"}, "matchExpressions": [
        {"key": "app.kubernetes.io/component", "operator": "In", "values": list(components)}]}


def _tcp(*ports: int | str) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": p} for p in ports]


def internet(internal_cidrs: Sequence[str]) -> dict[str, Any]:
    """An ipBlock peer for "the internet": everything but the deployment's own networks and instance metadata."""
    return {"ipBlock": {"cidr": "0.0.0.0/0", "except": [*internal_cidrs, _METADATA_SERVICE]}}


def _policies(args: PlatformArgs) -> dict[str, dict[str, Any]]:
    env, b, edge = args.config.environment, args.backends, list(args.edge.ingress_peers)
    pods = lambda *c: components_selector(env, c)  # noqa: E731 - a local shorthand keeps the table readable
    dns = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
           "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
    object_peers: list[Peer] = list(b.object_store_peers)
    return {
        "default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        "allow-dns": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [
            {"to": [dns], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]},
        "api-ingress": {"podSelector": pods("api"), "policyTypes": ["Ingress"], "ingress": [
            {"from": edge, "ports": _tcp(API_PORT)},
            {"from": [namespace_peer(MONITORING_NAMESPACE)], "ports": _tcp(METRICS_PORT)}]},
        "worker-metrics-ingress": {"podSelector": pods("worker"), "policyTypes": ["Ingress"], "ingress": [
            {"from": [namespace_peer(MONITORING_NAMESPACE)], "ports": _tcp(WORKER_HEALTH_PORT)}]},
        "acme-solver-ingress": {
            "podSelector": {"matchLabels": {"acme.cert-manager.io/http01-solver": "true"}},
            "policyTypes": ["Ingress"], "ingress": [{"from": edge, "ports": _tcp(8089)}]},
        "database-egress": {"podSelector": pods("api", "worker", "migrate", "backup"), "policyTypes": ["Egress"],
                            "egress": [{"to": list(b.database_peers), "ports": _tcp(5432)}]},
        "redis-egress": {"podSelector": pods("api", "worker"), "policyTypes": ["Egress"],
                         "egress": [{"to": list(b.redis_peers), "ports": _tcp(6379)}]},
        "object-store-egress": {"podSelector": pods("api", "worker", "backup"), "policyTypes": ["Egress"],
                                "egress": [{"to": object_peers, "ports": _tcp(b.object_store_port)}]},
        "worker-internet-egress": {"podSelector": pods("worker"), "policyTypes": ["Egress"], "egress": [{
            "to": [internet(b.internal_cidrs)], "ports": _tcp(80, 443)}]},
        "api-model-egress": {"podSelector": pods("api"), "policyTypes": ["Egress"], "egress": [{
            "to": [internet(b.internal_cidrs)], "ports": _tcp(443)}]},
    }


def create_network_policies(name: str, args: PlatformArgs, opts: pulumi.ResourceOptions) -> None:
    """Create every NetworkPolicy of the namespace (names ``trellis-<policy>``)."""
    cfg = args.config
    for policy, spec in _policies(args).items():
        k8s.networking.v1.NetworkPolicy(f"{name}-netpol-{policy}", metadata={
            "name": f"trellis-{policy}", "namespace": cfg.namespace, "labels": labels(cfg.environment, "network"),
        }, spec=spec, opts=opts)
