"""Every Kubernetes object the program renders validates against the cluster version it deploys.

Built-in kinds: kubernetes-validate in strict mode (unknown fields fail). Custom resources
(KEDA, Prometheus Operator, cert-manager) have no bundled schema: minimal hand-written
checks of the fields their controllers require.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest
from infra_harness import StackRun

Check = Callable[[dict[str, Any]], None]


def _scaled_object(o: dict[str, Any]) -> None:
    spec = o["spec"]
    assert spec["scaleTargetRef"]["name"] and spec["triggers"]
    assert 0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    for t in spec["triggers"]:
        assert t["type"] in {"redis", "cpu"} and all(isinstance(v, str) for v in t["metadata"].values())
    redis = next(t for t in spec["triggers"] if t["type"] == "redis")
    assert {"address", "listName", "listLength"} <= set(redis["metadata"])


def _trigger_auth(o: dict[str, Any]) -> None:
    for ref in o["spec"]["secretTargetRef"]:
        assert set(ref) == {"parameter", "name", "key"}


def _service_monitor(o: dict[str, Any]) -> None:
    assert o["spec"]["selector"]["matchLabels"]
    assert all(e["port"] and e["path"].startswith("/") for e in o["spec"]["endpoints"])


# The fields of the operator's RuleGroup and Rule types: ops/prometheus/alerts.yml is shipped as-is, so a
# rules-file field the CRD lacks must fail here rather than be pruned by the API server.
_RULE_GROUP_FIELDS = {"name", "labels", "interval", "query_offset", "rules", "limit", "partial_response_strategy"}
_RULE_FIELDS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}


def _prometheus_rule(o: dict[str, Any]) -> None:
    assert o["spec"]["groups"]
    for group in o["spec"]["groups"]:
        assert group["name"] and set(group) <= _RULE_GROUP_FIELDS
        for rule in group["rules"]:
            assert set(rule) <= _RULE_FIELDS and ("alert" in rule) != ("record" in rule)
            assert rule["expr"] and str(rule["expr"]).count("(") == str(rule["expr"]).count(")")


def _issuer(o: dict[str, Any]) -> None:
    acme = o["spec"]["acme"]
    assert acme["server"].startswith("https://") and "@" in acme["email"]
    assert acme["privateKeySecretRef"]["name"] and acme["solvers"][0]["http01"]["ingress"]["ingressClassName"]


CUSTOM: dict[tuple[str, str], Check] = {
    ("keda.sh/v1alpha1", "ScaledObject"): _scaled_object,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): _trigger_auth,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _service_monitor,
    ("monitoring.coreos.com/v1", "PrometheusRule"): _prometheus_rule,
    ("cert-manager.io/v1", "Issuer"): _issuer,
}


def test_every_object_validates(any_stack: StackRun) -> None:
    version = any_stack.config.cluster.version + ".0"
    failures, custom_seen = [], 0
    for obj in any_stack.manifests():
        key = (obj["apiVersion"], obj["kind"])
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        assert obj["metadata"]["name"], "every object needs an explicit metadata.name"
        if key in CUSTOM:
            CUSTOM[key](obj)
            custom_seen += 1
            continue
        try:  # a kind without a bundled schema raises SchemaNotFoundError and fails the test
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)
    assert custom_seen == len([o for o in any_stack.manifests() if (o["apiVersion"], o["kind"]) in CUSTOM])


@pytest.mark.parametrize("bad", [
    {"spec": {"replicas": 2, "selector": {}, "template": {}, "replicaz": 1}},
    {"spec": {"replicas": "two"}},
])
def test_strict_validation_catches_mistakes(bad: dict[str, Any]) -> None:
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, **bad}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(obj, "1.33.0", strict=True)
