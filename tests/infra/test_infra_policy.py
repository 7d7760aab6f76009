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


# Each rule's exact verdicts: every check named on its own, init containers and every workload kind covered.
CRONJOB = "kubernetes:batch/v1:CronJob"


def _pod(*containers: dict[str, Any], init: tuple[dict[str, Any], ...] = (),
         ephemeral: tuple[dict[str, Any], ...] = (), **pod: Any) -> dict[str, Any]:
    return {**pod, "containers": list(containers), "initContainers": list(init),
            "ephemeralContainers": list(ephemeral)}


def _workload(kind: str, pod: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    group = {"Job": "batch/v1", "CronJob": "batch/v1", "Pod": "core/v1"}.get(kind, "apps/v1")
    if kind == "Pod":
        return f"kubernetes:{group}:{kind}", {"kind": kind, "spec": pod}
    if kind == "CronJob":
        return f"kubernetes:{group}:{kind}", {"kind": kind, "spec": {"jobTemplate": {"spec": {"template": {
            "spec": pod}}}}}
    return f"kubernetes:{group}:{kind}", {"kind": kind, "spec": {"template": {"spec": pod}}}


def _container(name: str = "app", **fields: Any) -> dict[str, Any]:
    return {k: v for k, v in (_deployment()["spec"]["template"]["spec"]["containers"][0] | {"name": name}
                              | fields).items() if v is not None}


def test_encryption_at_rest_names_each_missing_check() -> None:
    rule = RESOURCE_RULES["encryption-at-rest"]
    assert rule(RDS, {}) == ["RDS storage must be encrypted"]
    assert rule(CACHE, {}) == ["ElastiCache must be encrypted at rest", "ElastiCache must use TLS in transit"]
    assert rule(CACHE, {"transitEncryptionEnabled": True}) == ["ElastiCache must be encrypted at rest"]
    assert rule("aws:eks/cluster:Cluster", {"encryptionConfig": {"resources": ["configmaps"]}}) == [
        "EKS must envelope-encrypt Secrets with KMS"]
    assert rule(SSE, {}) == ["S3 default encryption must be SSE-KMS"]
    assert rule(SSE, {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms:dsse"}}]}) == []
    mixed = {"rules": [*_SSE_OK["rules"], {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}
    assert rule(SSE, mixed) == ["S3 default encryption must be SSE-KMS"]  # every rule, not any
    assert rule("aws:kms/key:Key", {}) == ["KMS keys must rotate"]
    assert rule("aws:sqs/queue:Queue", {}) == []  # a type the rule does not cover


def test_no_public_data_names_each_missing_flag() -> None:
    rule = RESOURCE_RULES["no-public-data"]
    assert rule(PAB, {"blockPublicAcls": True, "ignorePublicAcls": "true"}) == [
        "public access block must set blockPublicPolicy", "public access block must set ignorePublicAcls",
        "public access block must set restrictPublicBuckets"]
    assert rule("aws:s3/bucket:Bucket", {"acl": "public-read-write"}) == ["buckets must not have a public ACL"]
    assert rule("aws:s3/bucket:Bucket", {"acl": "private"}) == []
    assert rule("aws:s3/bucketAcl:BucketAcl", {"acl": "public-read"}) == []  # only the bucket's own acl
    assert rule(RDS, {"publiclyAccessible": True}) == ["RDS instances must not be publicly accessible"]
    assert rule(CACHE, {"publiclyAccessible": True}) == []


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"])
def test_probes_and_limits_on_long_running_workloads(kind: str) -> None:
    rule = RESOURCE_RULES["probes-and-limits"]
    # An init container needs limits, never probes (it runs to completion before the probes start).
    init = _container("migrate", livenessProbe=None, readinessProbe=None)
    assert rule(*_workload(kind, _pod(_container(), init=(init,)))) == []
    bare = _container("web", resources=None, livenessProbe=None, readinessProbe=None)
    assert rule(*_workload(kind, _pod(bare))) == [
        "container web needs cpu and memory requests", "container web needs cpu and memory limits",
        "container web needs a livenessProbe", "container web needs a readinessProbe"]
    half = _container(resources={"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}, readinessProbe=None)
    assert rule(*_workload(kind, _pod(half))) == [
        "container app needs cpu and memory requests", "container app needs cpu and memory limits",
        "container app needs a readinessProbe"]
    unlimited = _container("migrate", resources={"requests": {"cpu": "1", "memory": "1Gi"}})
    assert rule(*_workload(kind, _pod(_container(), init=(unlimited,)))) == [
        "container migrate needs cpu and memory limits"]
    # Kubernetes refuses resources and probes on an ephemeral (debug) container: none are asked of it.
    assert rule(*_workload(kind, _pod(_container(), ephemeral=(bare,)))) == []


@pytest.mark.parametrize("kind", ["Job", "CronJob", "Pod"])
def test_probes_and_limits_on_batch_workloads(kind: str) -> None:
    rule = RESOURCE_RULES["probes-and-limits"]
    unprobed = _container(livenessProbe=None, readinessProbe=None)
    assert rule(*_workload(kind, _pod(unprobed, init=(unprobed,)))) == []
    unlimited = _container("dump", resources={"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1"}})
    assert rule(*_workload(kind, _pod(_container(), init=(unlimited,)))) == [
        "container dump needs cpu and memory limits"]


def test_rules_over_pods_ignore_other_resources() -> None:
    # A Deployment as a non-Kubernetes type or a ConfigMap holding a pod-like spec is no workload.
    _, props = _workload("Deployment", _pod(_container(resources=None, image="x:latest")))
    for rule in ("probes-and-limits", "pinned-images", "non-root"):
        assert RESOURCE_RULES[rule]("custom:index:Deployment", props) == [], rule
        assert RESOURCE_RULES[rule]("kubernetes:core/v1:ConfigMap", {**props, "kind": "ConfigMap"}) == [], rule


@pytest.mark.parametrize("kind", ["Deployment", "Job", "CronJob", "Pod"])
def test_pinned_images_in_every_container(kind: str) -> None:
    rule = RESOURCE_RULES["pinned-images"]
    pinned = [_container("a", image="registry.local:5000/team/trellis:1.2.3"),
              _container("b", image="trellis@sha256:" + "b" * 64),
              _container("c", image="registry.local:5000/trellis@sha256:" + "c" * 64)]
    assert rule(*_workload(kind, _pod(*pinned, init=(_container("i", image="busybox:1.36"),)))) == []
    unpinned = [_container("b", image="trellis@sha256:" + "b" * 64),  # a digest first does not end the check
                _container("c", image="registry.local:5000/trellis:latest"),
                _container("d", image="registry.local:5000/trellis"),
                _container("e", image=None)]
    assert rule(*_workload(kind, _pod(*unpinned, init=(_container("i", image="busybox"),),
                                      ephemeral=(_container("debug", image="busybox:latest"),)))) == [
        "container i image 'busybox' must pin a tag other than latest",
        "container c image 'registry.local:5000/trellis:latest' must pin a tag other than latest",
        "container d image 'registry.local:5000/trellis' must pin a tag other than latest",
        "container e image '' must pin a tag other than latest",
        "container debug image 'busybox:latest' must pin a tag other than latest"]


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"])
def test_non_root_in_every_container(kind: str) -> None:
    rule = RESOURCE_RULES["non-root"]
    own = {"runAsNonRoot": True, "allowPrivilegeEscalation": False}
    # Non-root set on each container instead of the pod passes too.
    assert rule(*_workload(kind, _pod(_container(securityContext=own), init=(_container(
        "i", securityContext={**own, "privileged": False}),)))) == []
    root_init = _container("i", securityContext={"runAsNonRoot": False, "allowPrivilegeEscalation": False})
    assert rule(*_workload(kind, _pod(_container(securityContext=own), init=(root_init,)))) == [
        "container i must run as non-root"]
    debug = _container("debug", securityContext={"runAsNonRoot": True, "privileged": True})
    assert rule(*_workload(kind, _pod(_container(securityContext=own), ephemeral=(debug,)))) == [
        "container debug must set allowPrivilegeEscalation: false", "container debug must not be privileged"]
    loose = _container("web", securityContext={"privileged": True})
    assert rule(*_workload(kind, _pod(loose, securityContext={"runAsNonRoot": True}))) == [
        "container web must set allowPrivilegeEscalation: false", "container web must not be privileged"]
    assert rule(*_workload(kind, _pod(_container(securityContext=None)))) == [
        "container app must run as non-root", "container app must set allowPrivilegeEscalation: false"]


def test_buckets_locked_down_counts_per_bucket() -> None:
    rule = STACK_RULES["buckets-locked-down"]
    bucket = ("aws:s3/bucket:Bucket", {})
    assert rule([]) == []
    assert rule([bucket, bucket, (PAB, _PAB_OK), (SSE, _SSE_OK)]) == [
        "every bucket needs a BucketPublicAccessBlock", "every bucket needs a default encryption configuration"]
    assert rule([bucket, (SSE, _SSE_OK)]) == ["every bucket needs a BucketPublicAccessBlock"]
    assert rule([bucket, (PAB, _PAB_OK)]) == ["every bucket needs a default encryption configuration"]


def test_prod_data_protection_names_every_gap() -> None:
    rule = STACK_RULES["prod-data-protection"]
    stack = _prod_stack(rds={"multiAz": False, "deletionProtection": "yes", "backupRetentionPeriod": 29},
                        cache={"automaticFailoverEnabled": False, "snapshotRetentionLimit": 0})[:-1]
    assert rule(stack) == ["prod RDS must be Multi-AZ", "prod RDS must have deletion protection",
                           "prod RDS must keep backups >= 30 days",
                           "prod ElastiCache must be Multi-AZ with automatic failover",
                           "prod ElastiCache must keep snapshots", "prod buckets must replicate to another region"]
    unset = [stack[0], (RDS, {}), (CACHE, {})]
    assert rule(unset) == ["prod RDS must be Multi-AZ", "prod RDS must have deletion protection",
                           "prod RDS must keep backups >= 30 days",
                           "prod ElastiCache must be Multi-AZ with automatic failover",
                           "prod ElastiCache must keep snapshots"]
    two = [stack[0], (CACHE, {"multiAzEnabled": True, "automaticFailoverEnabled": True}), (RDS, {}),
           (RDS, {"multiAz": True, "deletionProtection": True, "backupRetentionPeriod": 7})]
    assert rule(two) == ["prod ElastiCache must keep snapshots", "prod RDS must be Multi-AZ",
                         "prod RDS must have deletion protection", "prod RDS must keep backups >= 30 days",
                         "prod RDS must keep backups >= 30 days"]
    # The least that passes: 30 days of backups, one snapshot.
    assert rule(_prod_stack(cache={"snapshotRetentionLimit": 1})) == []


def test_prod_data_protection_reads_the_environment_of_either_layer() -> None:
    rule = STACK_RULES["prod-data-protection"]
    unprotected = (RDS, {"multiAz": True, "deletionProtection": True})
    assert rule([_eks("prod"), unprotected]) == ["prod RDS must keep backups >= 30 days"]
    assert rule([_eks("staging"), unprotected]) == []
    assert rule([("kubernetes:core/v1:Namespace", {"metadata": {}}), _eks("prod"), unprotected]) == []  # first wins
    assert rule([("aws:eks/cluster:Cluster", {}), unprotected]) == []


def test_engine_versions_name_the_pinned_version() -> None:
    rule = RESOURCE_RULES["engine-versions-without-patch"]
    assert rule(RDS, {"engine": "postgres"}) == ["RDS engineVersion '' must be the major only"]
    assert rule(RDS, {"engine": "postgres", "engineVersion": "16.6"}) == [
        "RDS engineVersion '16.6' must be the major only"]
    assert rule(RDS, {"engine": "mysql", "engineVersion": "8.0.35"}) == []  # only PostgreSQL's scheme is known
    assert rule(CACHE, {"engineVersion": "7.1.0"}) == ["ElastiCache engineVersion '7.1.0' must not pin a patch level"]
    assert rule(CACHE, {"engineVersion": "7"}) == [] and rule(CACHE, {}) == []
    assert rule("aws:docdb/cluster:Cluster", {"engine": "postgres", "engineVersion": "5.0.0"}) == []


def test_metrics_not_public_names_each_route() -> None:
    rule = STACK_RULES["metrics-not-public"]
    default = (INGRESS, {"kind": "Ingress", "spec": {
        "defaultBackend": {"service": {"name": "api", "port": {"number": 9102}}},
        "rules": [{"http": {"paths": [
            {"backend": {"service": {"name": "api", "port": {"name": "http"}}}},
            {"path": "/ready", "backend": {"service": {"name": "api", "port": {"name": "http"}}}},
            {"path": "/metrics/x", "backend": {"resource": {"kind": "Bucket"}}}]}}, {"host": "x"}]}})
    monitor = (MONITOR, {"kind": "ServiceMonitor", "spec": {"endpoints": [{"port": "9102"}, {"path": "/m"}]}})
    assert rule([default, monitor]) == ["Ingress routes * to api:9102, a metrics port",
                                        "Ingress sends /ready to api: it must be blocked at the edge"]
    assert rule([default]) == ["Ingress sends /ready to api: it must be blocked at the edge"]
    assert rule([_ingress(("/", "metrics"))]) == ["Ingress routes / to trellis-api:metrics, a metrics port"]
    pathless = (INGRESS, {"kind": "Ingress", "spec": {"rules": [{"http": {"paths": [
        {"backend": {"service": {"name": "api", "port": {"name": "metrics"}}}}]}}]}})
    assert rule([pathless]) == ["Ingress routes / to api:metrics, a metrics port"]  # no path: all of them
    assert rule([_ingress(("/", ""))]) == []
    assert rule([_ingress(("/metrics", "http"))]) == [
        "Ingress sends /metrics to trellis-api: it must be blocked at the edge"]


@pytest.mark.parametrize("service_type", ["LoadBalancer", "NodePort"])
def test_metrics_not_public_on_exposed_services(service_type: str) -> None:
    rule = STACK_RULES["metrics-not-public"]
    ports = [{"name": "http", "port": 80}, {"name": "metrics", "port": 9090}, {"name": "scrape", "port": 9102}]
    service = ("kubernetes:core/v1:Service", {"kind": "Service", "metadata": {"name": "api"}, "spec": {
        "type": service_type, "ports": ports}})
    assert rule([service, _MONITOR]) == ["Service api exposes metrics port metrics",
                                         "Service api exposes metrics port scrape"]
    assert rule([_ingress(("/", "metrics")), service]) == [  # every finding of the stack, in order
        "Ingress routes / to trellis-api:metrics, a metrics port", "Service api exposes metrics port metrics"]
    internal = ("kubernetes:core/v1:Service", {"kind": "Service", "metadata": {"name": "api"}, "spec": {
        "type": "ClusterIP", "ports": ports}})
    assert rule([internal, _MONITOR]) == []
    assert rule([("custom:index:Service", {**service[1]})]) == []  # only Kubernetes kinds


def test_node_autoscaler_charts_by_name_in_any_repository() -> None:
    rule = STACK_RULES["node-autoscaler"]
    groups = [("aws:eks/nodeGroup:NodeGroup", {})]
    assert rule(groups + [("kubernetes:helm.sh/v3:Release", {"chart": "oci://public.ecr.aws/karpenter/karpenter"})]
                ) == []
    assert rule(groups + [("kubernetes:helm.sh/v3:Chart", {"chart": "karpenter"})]) == [
        "EKS node groups without a node autoscaler: install cluster-autoscaler or karpenter, or use EKS Auto Mode"]
    assert rule(groups + [("aws:eks/cluster:Cluster", {"computeConfig": {"enabled": "true"}})])
    assert rule(groups + [("aws:eks/nodeGroup:NodeGroup", {"computeConfig": {"enabled": True}})])


def test_no_documentation_cidrs_in_every_place() -> None:
    rule = STACK_RULES["no-documentation-cidrs"]
    group = ("aws:ec2/securityGroup:SecurityGroup", {"ingress": [{"cidrBlocks": ["10.0.0.0/8"]}, {}],
                                                     "egress": [{"cidrBlocks": ["203.0.113.9/24"]}]})
    policy = ("kubernetes:networking.k8s.io/v1:NetworkPolicy", {"kind": "NetworkPolicy", "spec": {
        "ingress": [{"from": [{"ipBlock": {"cidr": "192.0.2.0/25"}}, {"podSelector": {}}]}],
        "egress": [{"to": [{"ipBlock": {"cidr": "2001:db9::/32"}}]}, {}]}})
    assert rule([group, policy]) == [
        "aws:ec2/securityGroup:SecurityGroup: 203.0.113.9/24 is a documentation range",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy: 192.0.2.0/25 is a documentation range"]
    # Not a CIDR, or a wider network holding a documentation range: not a placeholder.
    assert rule([_eks("dev", "not-a-cidr", "", "192.0.0.0/16", "::/0")]) == []
    assert rule([_eks("prod", "10.1.0.0/16", "0.0.0.0/0")]) == ["prod EKS endpoint must not be public to 0.0.0.0/0"]
    # A NetworkPolicy peer only counts as such a Kubernetes kind.
    assert rule([("custom:index:NetworkPolicy", policy[1])]) == []
