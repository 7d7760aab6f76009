"""Guardrails as plain functions over resource properties (the engine's camelCase inputs).

Resource rules: ``rule(resource_type, props) -> list[str]`` (violation messages, empty when
compliant). Stack rules: ``rule(resources) -> list[str]`` over ``(type, props)`` pairs.
They are pure, so tests call them directly with passing and failing resources; the pack in
``__main__.py`` adapts them to CrossGuard. No imports of the program or of pulumi_policy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

__all__ = ["RESOURCE_RULES", "STACK_RULES", "pod_spec"]

Props = Mapping[str, Any]
ResourceRule = Callable[[str, Props], list[str]]
StackRule = Callable[[Sequence[tuple[str, Props]]], list[str]]

_LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet"}
_WORKLOADS = _LONG_RUNNING | {"Job", "CronJob"}


def _kind(resource_type: str, props: Props) -> str:
    return str(props.get("kind", "")) if resource_type.startswith("kubernetes:") else ""


def pod_spec(resource_type: str, props: Props) -> Mapping[str, Any] | None:
    """The pod spec inside a workload's props, or None for anything else."""
    kind = _kind(resource_type, props)
    spec = props.get("spec") or {}
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return ((spec.get("template") or {}).get("spec") or {}) if kind in _WORKLOADS else None


def _containers(pod: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from pod.get("initContainers") or []
    yield from pod.get("containers") or []


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
    for c in _containers(pod):
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
    for t, p in resources:
        if t == "kubernetes:core/v1:Namespace":
            return ((p.get("metadata") or {}).get("labels") or {}).get("trellis.io/environment")
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
    if not any(t == "aws:s3/bucketReplicationConfig:BucketReplicationConfig" for t, _ in resources):
        found.append("prod buckets must replicate to another region")
    return found


RESOURCE_RULES: dict[str, ResourceRule] = {
    "encryption-at-rest": encryption_at_rest,
    "no-public-data": no_public_data,
    "probes-and-limits": probes_and_limits,
    "pinned-images": pinned_images,
    "non-root": non_root,
}
STACK_RULES: dict[str, StackRule] = {
    "buckets-locked-down": buckets_locked_down,
    "prod-data-protection": prod_data_protection,
}
