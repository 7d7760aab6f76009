"""Guardrails as plain functions over resource properties (the engine's camelCase inputs).

Resource rules: ``rule(resource_type, props) -> list[str]`` (violation messages, empty when
compliant). Stack rules: ``rule(resources) -> list[str]`` over ``(type, props)`` pairs.
They are pure, so tests call them directly with passing and failing resources; the pack in
``__main__.py`` adapts them to CrossGuard. No imports of the program or of pulumi_policy.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from infra.policy.alarms import prod_alarms_have_actions

__all__ = ["RESOURCE_RULES", "STACK_RULES", "pod_spec"]

Props = Mapping[str, Any]
ResourceRule = Callable[[str, Props], list[str]]
StackRule = Callable[[Sequence[tuple[str, Props]]], list[str]]

_LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}
_WORKLOADS = _LONG_RUNNING | {"Job", "CronJob", "Pod"}


def _kind(resource_type: str, props: Props) -> str:
    return str(props.get("kind", "")) if resource_type.startswith("kubernetes:") else ""


def pod_spec(resource_type: str, props: Props) -> Mapping[str, Any] | None:
    """The pod spec inside a workload's props, or None for anything else."""
    kind = _kind(resource_type, props)
    spec = props.get("spec") or {}
    if kind == "Pod":  # a bare Pod holds its spec itself; every other workload a template of it
        return spec
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return ((spec.get("template") or {}).get("spec") or {}) if kind in _WORKLOADS else None


def _containers(pod: Mapping[str, Any], ephemeral: bool = True) -> Iterator[Mapping[str, Any]]:
    yield from pod.get("initContainers") or []
    yield from pod.get("containers") or []
    if ephemeral:
        yield from pod.get("ephemeralContainers") or []


def encryption_at_rest(resource_type: str, props: Props) -> list[str]:
    """Data stores, Kubernetes Secrets and buckets are encrypted with KMS; KMS keys rotate."""
    checks: dict[str, list[tuple[bool, str]]] = {
        "aws:rds/instance:Instance": [(props.get("storageEncrypted") is True, "RDS storage must be encrypted")],
        "aws:elasticache/replicationGroup:ReplicationGroup": [
            (props.get("atRestEncryptionEnabled") is True, "ElastiCache must be encrypted at rest"),
            (props.get("transitEncryptionEnabled") is True, "ElastiCache must use TLS in transit")],
        "aws:eks/cluster:Cluster": [(
            "secrets" in ((props.get("encryptionConfig") or {}).get("resources") or []),
            "EKS must envelope-encrypt Secrets with KMS")],
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": [(
            all(((r.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm") or "").startswith("aws:kms")
                for r in props.get("rules") or [{}]), "S3 default encryption must be SSE-KMS")],
        "aws:kms/key:Key": [(props.get("enableKeyRotation") is True, "KMS keys must rotate")],
    }
    return [msg for ok, msg in checks.get(resource_type, []) if not ok]


def no_public_data(resource_type: str, props: Props) -> list[str]:
    """Buckets block every form of public access; databases are not publicly reachable."""
    if resource_type == "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":
        flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        return [f"public access block must set {f}" for f in flags if props.get(f) is not True]
    if resource_type == "aws:s3/bucket:Bucket" and str(props.get("acl", "")).startswith("public"):
        return ["buckets must not have a public ACL"]
    if resource_type == "aws:rds/instance:Instance" and props.get("publiclyAccessible") is True:
        return ["RDS instances must not be publicly accessible"]
    return []


def probes_and_limits(resource_type: str, props: Props) -> list[str]:
    """Every container has CPU/memory requests and limits; long-running ones also liveness and readiness probes."""
    pod = pod_spec(resource_type, props)
    if pod is None:
        return []
    long_running = _kind(resource_type, props) in _LONG_RUNNING
    found = []
    for c in _containers(pod, ephemeral=False):  # Kubernetes refuses resources and probes on ephemeral ones
        res = c.get("resources") or {}
        for part in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(res.get(part) or {}):
                found.append(f"container {c.get('name')} needs cpu and memory {part}")
        if long_running and c in (pod.get("containers") or []):
            found += [f"container {c.get('name')} needs a {p}" for p in ("livenessProbe", "readinessProbe")
                      if not c.get(p)]
    return found


def pinned_images(resource_type: str, props: Props) -> list[str]:
    """Images carry an explicit tag other than ``latest``, or a digest."""
    pod = pod_spec(resource_type, props)
    found = []
    for c in _containers(pod or {}):
        image = str(c.get("image", ""))
        if "@sha256:" in image:
            continue
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        if tag in ("", "latest"):
            found.append(f"container {c.get('name')} image {image!r} must pin a tag other than latest")
    return found


def non_root(resource_type: str, props: Props) -> list[str]:
    """Pods run as non-root without privilege escalation or privileged containers."""
    pod = pod_spec(resource_type, props)
    if pod is None:
        return []
    pod_nonroot = (pod.get("securityContext") or {}).get("runAsNonRoot") is True
    found = []
    for c in _containers(pod):
        sc = c.get("securityContext") or {}
        if not (pod_nonroot or sc.get("runAsNonRoot") is True):
            found.append(f"container {c.get('name')} must run as non-root")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"container {c.get('name')} must set allowPrivilegeEscalation: false")
        if sc.get("privileged") is True:
            found.append(f"container {c.get('name')} must not be privileged")
    return found


def buckets_locked_down(resources: Sequence[tuple[str, Props]]) -> list[str]:
    """Every bucket in the stack has a public access block and a default-encryption configuration."""
    count = lambda t: sum(1 for rt, _ in resources if rt == t)  # noqa: E731
    buckets = count("aws:s3/bucket:Bucket")
    found = []
    if count("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock") < buckets:
        found.append("every bucket needs a BucketPublicAccessBlock")
    if count("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration") < buckets:
        found.append("every bucket needs a default encryption configuration")
    return found


def _environment(resources: Sequence[tuple[str, Props]]) -> str | None:
    """The stack's environment: its Namespace's label (app layer) or its EKS cluster's tag (cluster layer)."""
    for t, p in resources:
        if t == "kubernetes:core/v1:Namespace":
            return ((p.get("metadata") or {}).get("labels") or {}).get("trellis.io/environment")
        if t == "aws:eks/cluster:Cluster":
            return (p.get("tags") or {}).get("trellis.io/environment")
    return None


def prod_data_protection(resources: Sequence[tuple[str, Props]]) -> list[str]:
    """In a prod stack: databases Multi-AZ, deletion-protected, 30-day backups; caches replicated with
    snapshots; buckets replicated to another region. The environment is the stack's Namespace label."""
    if _environment(resources) != "prod":
        return []
    found = []
    for t, p in resources:
        if t == "aws:rds/instance:Instance":
            found += [m for ok, m in (
                (p.get("multiAz") is True, "prod RDS must be Multi-AZ"),
                (p.get("deletionProtection") is True, "prod RDS must have deletion protection"),
                (int(p.get("backupRetentionPeriod") or 0) >= 30, "prod RDS must keep backups >= 30 days"),
            ) if not ok]
        if t == "aws:elasticache/replicationGroup:ReplicationGroup":
            found += [m for ok, m in (
                (p.get("multiAzEnabled") is True and p.get("automaticFailoverEnabled") is True,
                 "prod ElastiCache must be Multi-AZ with automatic failover"),
                (int(p.get("snapshotRetentionLimit") or 0) >= 1, "prod ElastiCache must keep snapshots"),
            ) if not ok]
    has_buckets = any(t == "aws:s3/bucket:Bucket" for t, _ in resources)  # layer stacks without data are exempt
    if has_buckets and not any(t == "aws:s3/bucketReplicationConfig:BucketReplicationConfig" for t, _ in resources):
        found.append("prod buckets must replicate to another region")
    return found


def engine_versions_without_patch(resource_type: str, props: Props) -> list[str]:
    """RDS PostgreSQL pins the major version only, ElastiCache major.minor: AWS applies minor/patch upgrades itself,
    and a pinned lower version would make the next update ask for a downgrade."""
    version = str(props.get("engineVersion") or "")
    if resource_type == "aws:rds/instance:Instance" and props.get("engine") == "postgres":
        return [] if re.fullmatch(r"\d+", version) else [f"RDS engineVersion {version!r} must be the major only"]
    if resource_type == "aws:elasticache/replicationGroup:ReplicationGroup" and version.count(".") > 1:
        return [f"ElastiCache engineVersion {version!r} must not pin a patch level"]
    return []


def _ingress_backends(props: Props) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(path, backend service) of every route of an Ingress, the default backend as path ``*``."""
    spec = props.get("spec") or {}
    if (default := (spec.get("defaultBackend") or {}).get("service")) is not None:
        yield "*", default
    for rule in spec.get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            if (service := (path.get("backend") or {}).get("service")) is not None:
                yield str(path.get("path", "/")), service


def metrics_not_public(resources: Sequence[tuple[str, Props]]) -> list[str]:
    """No Ingress routes to a port Prometheus scrapes (or one named ``metrics``) or sends ``/metrics`` to a real
    backend, and no LoadBalancer/NodePort Service exposes a metrics port: unauthenticated metrics stay internal."""
    kinds = [(_kind(t, p), p) for t, p in resources]
    scraped = {str(e.get("port")) for k, p in kinds if k == "ServiceMonitor"
               for e in (p.get("spec") or {}).get("endpoints") or [] if e.get("port")} | {"metrics"}
    found = []
    for kind, props in kinds:
        if kind == "Ingress":
            for path, service in _ingress_backends(props):
                port = service.get("port") or {}
                port_name = str(port.get("name") or port.get("number") or "")
                if port_name in scraped:
                    found.append(f"Ingress routes {path} to {service.get('name')}:{port_name}, a metrics port")
                if path.startswith(("/metrics", "/ready")) and port_name != "use-annotation":
                    found.append(f"Ingress sends {path} to {service.get('name')}: it must be blocked at the edge")
        if kind == "Service" and (props.get("spec") or {}).get("type") in ("LoadBalancer", "NodePort"):
            found += [f"Service {(props.get('metadata') or {}).get('name')} exposes metrics port {p.get('name')}"
                      for p in (props.get("spec") or {}).get("ports") or [] if p.get("name") in scraped]
    return found


_AUTOSCALER_CHARTS = {"cluster-autoscaler", "karpenter"}


def node_autoscaler(resources: Sequence[tuple[str, Props]]) -> list[str]:
    """A stack that creates EKS managed node groups also installs a node autoscaler (Cluster Autoscaler or Karpenter
    release), or its cluster uses EKS Auto Mode: otherwise pods added by the HPAs stay Pending."""
    if not any(t == "aws:eks/nodeGroup:NodeGroup" for t, _ in resources):
        return []
    charts = {str(p.get("chart", "")).rsplit("/", 1)[-1] for t, p in resources if t == "kubernetes:helm.sh/v3:Release"}
    auto_mode = any(t == "aws:eks/cluster:Cluster" and (p.get("computeConfig") or {}).get("enabled") is True
                    for t, p in resources)
    return [] if charts & _AUTOSCALER_CHARTS or auto_mode else [
        "EKS node groups without a node autoscaler: install cluster-autoscaler or karpenter, or use EKS Auto Mode"]


_DOCUMENTATION = tuple(ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"))


def _cidrs(resource_type: str, props: Props) -> Iterator[str]:
    if resource_type == "aws:eks/cluster:Cluster":
        yield from (props.get("vpcConfig") or {}).get("publicAccessCidrs") or []
    if resource_type == "aws:ec2/securityGroup:SecurityGroup":
        for rule in (props.get("ingress") or []) + (props.get("egress") or []):
            yield from rule.get("cidrBlocks") or []
    if _kind(resource_type, props) == "NetworkPolicy":
        spec = props.get("spec") or {}
        for rule in (spec.get("ingress") or []) + (spec.get("egress") or []):
            for peer in (rule.get("from") or []) + (rule.get("to") or []):
                if block := peer.get("ipBlock"):
                    yield block.get("cidr", "")


def _documentation(text: str) -> bool:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return any(net.version == doc.version and net.subnet_of(doc) for doc in _DOCUMENTATION)  # type: ignore[arg-type]


def no_documentation_cidrs(resources: Sequence[tuple[str, Props]]) -> list[str]:
    """No CIDR anywhere lies in a documentation range (RFC 5737/3849: a placeholder left in); in prod the EKS
    endpoint is not open to 0.0.0.0/0 either."""
    found = [f"{t}: {c} is a documentation range" for t, p in resources for c in _cidrs(t, p) if _documentation(c)]
    if _environment(resources) == "prod":
        found += ["prod EKS endpoint must not be public to 0.0.0.0/0" for t, p in resources
                  if t == "aws:eks/cluster:Cluster" and "0.0.0.0/0" in _cidrs(t, p)]
    return found


RESOURCE_RULES: dict[str, ResourceRule] = {
    "encryption-at-rest": encryption_at_rest,
    "no-public-data": no_public_data,
    "probes-and-limits": probes_and_limits,
    "pinned-images": pinned_images,
    "non-root": non_root,
    "engine-versions-without-patch": engine_versions_without_patch,
}
STACK_RULES: dict[str, StackRule] = {
    "buckets-locked-down": buckets_locked_down,
    "prod-data-protection": prod_data_protection,
    "metrics-not-public": metrics_not_public,
    "node-autoscaler": node_autoscaler,
    "no-documentation-cidrs": no_documentation_cidrs,
    "prod-alarms-have-actions": prod_alarms_have_actions,
}
