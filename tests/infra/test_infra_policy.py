"""Each guardrail fails on a bad resource and passes on a good one; the real stacks pass them all."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from infra_harness import StackRun

from infra.policy.rules import RESOURCE_RULES, STACK_RULES

RDS = "aws:rds/instance:Instance"
CACHE = "aws:elasticache/replicationGroup:ReplicationGroup"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
DEPLOY = "kubernetes:apps/v1:Deployment"


def _deployment(**container: Any) -> dict[str, Any]:
    c = {"name": "app", "image": "trellis:1.0.0",
         "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
         "livenessProbe": {"httpGet": {"path": "/health", "port": 1}},
         "readinessProbe": {"httpGet": {"path": "/ready", "port": 1}},
         "securityContext": {"allowPrivilegeEscalation": False}}
    c.update(container)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {
        "securityContext": {"runAsNonRoot": True}, "containers": [{k: v for k, v in c.items() if v is not None}]}}}}


_PAB_OK = {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True}
_SSE_OK = {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]}

# rule -> (type, passing props, failing props)
CASES: dict[str, list[tuple[str, dict[str, Any], dict[str, Any]]]] = {
    "encryption-at-rest": [
        (RDS, {"storageEncrypted": True}, {"storageEncrypted": False}),
        (CACHE, {"atRestEncryptionEnabled": True, "transitEncryptionEnabled": True},
         {"atRestEncryptionEnabled": True, "transitEncryptionEnabled": False}),
        ("aws:eks/cluster:Cluster", {"encryptionConfig": {"resources": ["secrets"]}}, {}),
        (SSE, _SSE_OK, {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}),
        ("aws:kms/key:Key", {"enableKeyRotation": True}, {"enableKeyRotation": False}),
    ],
    "no-public-data": [
        (PAB, _PAB_OK, {**_PAB_OK, "restrictPublicBuckets": False}),
        ("aws:s3/bucket:Bucket", {}, {"acl": "public-read"}),
        (RDS, {"publiclyAccessible": False}, {"publiclyAccessible": True}),
    ],
    "probes-and-limits": [
        (DEPLOY, _deployment(), _deployment(livenessProbe=None)),
        (DEPLOY, _deployment(), _deployment(resources={"requests": {"cpu": "1", "memory": "1Gi"}})),
    ],
    "pinned-images": [
        (DEPLOY, _deployment(), _deployment(image="trellis:latest")),
        (DEPLOY, _deployment(image="repo/trellis@sha256:" + "a" * 64), _deployment(image="host:5000/trellis")),
    ],
    "engine-versions-without-patch": [
        (RDS, {"engine": "postgres", "engineVersion": "16"}, {"engine": "postgres", "engineVersion": "16.6"}),
        (CACHE, {"engineVersion": "7.1"}, {"engineVersion": "7.1.0"}),
    ],
    "non-root": [
        (DEPLOY, _deployment(), _deployment(securityContext={"allowPrivilegeEscalation": True})),
        (DEPLOY, _deployment(), _deployment(securityContext={"allowPrivilegeEscalation": False,
                                                             "privileged": True})),
    ],
}


@pytest.mark.parametrize("rule", sorted(RESOURCE_RULES))
def test_resource_rule_passes_and_fails(rule: str) -> None:
    assert CASES[rule], "every rule needs cases"
    for type_, good, bad in CASES[rule]:
        assert RESOURCE_RULES[rule](type_, good) == [], (type_, good)
        assert RESOURCE_RULES[rule](type_, bad), (type_, bad)


def test_non_root_requires_run_as_non_root() -> None:
    bad = _deployment()
    bad["spec"]["template"]["spec"]["securityContext"] = {}
    assert RESOURCE_RULES["non-root"](DEPLOY, bad)


def test_probes_not_required_on_jobs_but_limits_are() -> None:
    pod = copy.deepcopy(_deployment(livenessProbe=None, readinessProbe=None)["spec"])
    job = {"kind": "Job", "spec": pod}
    assert RESOURCE_RULES["probes-and-limits"]("kubernetes:batch/v1:Job", job) == []
    pod["template"]["spec"]["containers"][0]["resources"] = {}
    assert RESOURCE_RULES["probes-and-limits"]("kubernetes:batch/v1:Job", job)


def _prod_stack(**overrides: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    rds = {"multiAz": True, "deletionProtection": True, "backupRetentionPeriod": 30, **overrides.get("rds", {})}
    cache = {"multiAzEnabled": True, "automaticFailoverEnabled": True, "snapshotRetentionLimit": 7}
    return [("kubernetes:core/v1:Namespace", {"metadata": {"labels": {"trellis.io/environment": "prod"}}}),
            (RDS, rds), (CACHE, {**cache, **overrides.get("cache", {})}), ("aws:s3/bucket:Bucket", {}),
            ("aws:s3/bucketReplicationConfig:BucketReplicationConfig", {})]


@pytest.mark.parametrize("bad", [{"rds": {"multiAz": False}}, {"rds": {"backupRetentionPeriod": 7}},
                                 {"rds": {"deletionProtection": False}}, {"cache": {"multiAzEnabled": False}}])
def test_prod_data_protection(bad: dict[str, Any]) -> None:
    assert STACK_RULES["prod-data-protection"](_prod_stack()) == []
    assert STACK_RULES["prod-data-protection"](_prod_stack(**bad))
    dev = [(t, p) for t, p in _prod_stack(**bad) if t != "kubernetes:core/v1:Namespace"]
    assert STACK_RULES["prod-data-protection"](dev) == []  # only prod stacks are held to it


def test_prod_data_protection_requires_replication() -> None:
    assert STACK_RULES["prod-data-protection"](_prod_stack()[:-1])


def test_buckets_locked_down() -> None:
    good = [("aws:s3/bucket:Bucket", {}), (PAB, _PAB_OK), (SSE, _SSE_OK)]
    assert STACK_RULES["buckets-locked-down"](good) == []
    assert STACK_RULES["buckets-locked-down"](good[:2])
    assert STACK_RULES["buckets-locked-down"]([good[0], good[2]])


def test_real_stacks_pass_every_rule(any_stack: StackRun) -> None:
    for run in any_stack.layers or [any_stack]:  # the pack checks each stack on its own, layer stacks too
        resources = [(r.type, r.inputs) for r in run.resources if r.custom]
        violations = [f"{name}: {r.type} {r.name}: {m}" for name, rule in RESOURCE_RULES.items()
                      for r in run.resources if r.custom for m in rule(r.type, r.inputs)]
        violations += [f"{name}: {m}" for name, rule in STACK_RULES.items() for m in rule(resources)]
        assert violations == [], run.resources[0].stack


def test_policy_pack_entry_only_wraps_rules() -> None:
    """The pack's __main__ starts a server when run; check it names every rule without running it."""
    from infra_harness import REPO

    source = (REPO / "infra/policy/__main__.py").read_text()
    assert "RESOURCE_RULES" in source and "STACK_RULES" in source and "PolicyPack(" in source
    assert (REPO / "infra/policy/PulumiPolicy.yaml").exists()


INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"


def _ingress(*paths: tuple[str, str]) -> tuple[str, dict[str, Any]]:
    return (INGRESS, {"kind": "Ingress", "spec": {"rules": [{"http": {"paths": [
        {"path": path, "backend": {"service": {"name": "trellis-api", "port": {"name": port}}}}
        for path, port in paths]}}]}})


_MONITOR = (MONITOR, {"kind": "ServiceMonitor", "spec": {"endpoints": [{"port": "scrape"}]}})


@pytest.mark.parametrize("bad", [
    [_ingress(("/", "scrape")), _MONITOR],  # the Ingress routes to the port Prometheus scrapes
    [_ingress(("/", "metrics"))],  # a port named metrics
    [_ingress(("/metrics", "http"), ("/", "http"))],  # /metrics to a real backend
    [("kubernetes:core/v1:Service", {"kind": "Service", "metadata": {"name": "x"}, "spec": {
        "type": "LoadBalancer", "ports": [{"name": "metrics", "port": 9090}]}})],
])
def test_metrics_not_public(bad: list[tuple[str, dict[str, Any]]]) -> None:
    good = [_ingress(("/metrics", "use-annotation"), ("/", "http")), _MONITOR]
    assert STACK_RULES["metrics-not-public"](good) == []
    assert STACK_RULES["metrics-not-public"](bad)


def test_node_autoscaler_required_with_node_groups() -> None:
    groups = [("aws:eks/nodeGroup:NodeGroup", {})]
    assert STACK_RULES["node-autoscaler"](groups)
    assert STACK_RULES["node-autoscaler"](groups + [("kubernetes:helm.sh/v3:Release", {"chart": "metrics-server"})])
    for chart in ("cluster-autoscaler", "karpenter"):
        assert STACK_RULES["node-autoscaler"](groups + [("kubernetes:helm.sh/v3:Release", {"chart": chart})]) == []
    auto_mode = ("aws:eks/cluster:Cluster", {"computeConfig": {"enabled": True}})
    assert STACK_RULES["node-autoscaler"](groups + [auto_mode]) == []
    assert STACK_RULES["node-autoscaler"]([("aws:rds/instance:Instance", {})]) == []  # no node groups, no rule


def _eks(env: str, *cidrs: str) -> tuple[str, dict[str, Any]]:
    return ("aws:eks/cluster:Cluster", {"tags": {"trellis.io/environment": env},
                                        "vpcConfig": {"publicAccessCidrs": list(cidrs)}})


@pytest.mark.parametrize("bad", [
    [_eks("prod", "203.0.113.0/24")],  # the placeholder the issue found in Pulumi.prod.yaml
    [_eks("dev", "198.51.100.7/32")],
    [_eks("prod", "0.0.0.0/0")],
    [("aws:ec2/securityGroup:SecurityGroup", {"ingress": [{"cidrBlocks": ["192.0.2.0/24"]}]})],
    [("kubernetes:networking.k8s.io/v1:NetworkPolicy", {"kind": "NetworkPolicy", "spec": {
        "egress": [{"to": [{"ipBlock": {"cidr": "2001:db8::/48"}}]}]}})],
])
def test_no_documentation_cidrs(bad: list[tuple[str, dict[str, Any]]]) -> None:
    assert STACK_RULES["no-documentation-cidrs"]([_eks("prod", "100.64.10.0/24")]) == []
    assert STACK_RULES["no-documentation-cidrs"]([_eks("dev", "0.0.0.0/0")]) == []  # dev may stay open (IAM auth)
    assert STACK_RULES["no-documentation-cidrs"](bad)


def test_prod_data_protection_exempts_layers_without_buckets() -> None:
    cluster_layer = [_eks("prod", "100.64.10.0/24")]
    assert STACK_RULES["prod-data-protection"](cluster_layer) == []
