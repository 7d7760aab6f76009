"""Issue 15 item 1: autoscaling works end to end on AWS - metrics-server feeds the HPAs, the Cluster Autoscaler adds
nodes for pods the HPAs and KEDA add, and Pulumi leaves the node groups' desiredSize to it."""

from __future__ import annotations

import json

from infra_harness import StackRun

from infra.node_autoscaler import AUTOSCALER_CHART

RELEASE = "kubernetes:helm.sh/v3:Release"


def _release(run: StackRun, chart: str) -> dict:
    (found,) = [r.inputs for r in run.of_type(RELEASE) if r.inputs["chart"] == chart]
    return found


def test_metrics_server_is_installed(aws_stack: StackRun) -> None:
    addons = {a.inputs["addonName"] for a in aws_stack.of_type("aws:eks/addon:Addon")}
    assert {"metrics-server", "vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver"} <= addons


def test_cluster_autoscaler_discovers_this_clusters_node_groups(aws_stack: StackRun) -> None:
    chart, version, repo = AUTOSCALER_CHART
    release = _release(aws_stack, chart)
    assert release["version"] == version and release["repositoryOpts"]["repo"] == repo
    values = release["values"]
    cluster = aws_stack.one("aws:eks/cluster:Cluster").inputs["name"]
    assert values["autoDiscovery"]["clusterName"] == cluster
    assert values["image"]["tag"] == f"v{aws_stack.config.cluster.version}.0"  # the control plane's minor
    role = [r for r in aws_stack.of_type("aws:iam/role:Role") if r.name.endswith("node-autoscaler-role")][0]
    assert "system:serviceaccount:kube-system:cluster-autoscaler" in role.inputs["assumeRolePolicy"]
    assert values["rbac"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(role.name)


def test_autoscaler_may_resize_only_this_clusters_groups(aws_stack: StackRun) -> None:
    policy = json.loads(aws_stack.one("aws:iam/rolePolicy:RolePolicy", "node-autoscaler-policy").inputs["policy"])
    (mutating,) = [s for s in policy["Statement"] if "autoscaling:SetDesiredCapacity" in s["Action"]]
    cluster = aws_stack.one("aws:eks/cluster:Cluster").inputs["name"]
    assert mutating["Condition"]["StringEquals"] == {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}": "owned"}


def test_autoscaler_lives_with_the_node_groups(prod: StackRun) -> None:
    # One stack owns both, so neither the policy pack nor an operator sees node groups without a scaler.
    (cluster_layer,) = [run for run in prod.layers if run.of_type("aws:eks/nodeGroup:NodeGroup")]
    assert [r for r in cluster_layer.of_type(RELEASE) if r.inputs["chart"] == AUTOSCALER_CHART[0]]


def test_pulumi_leaves_desired_size_to_the_autoscaler(aws_stack: StackRun) -> None:
    for group in aws_stack.of_type("aws:eks/nodeGroup:NodeGroup"):
        assert "scalingConfig.desiredSize" in group.ignore_changes
        scaling = group.inputs["scalingConfig"]
        assert scaling["minSize"] <= scaling["desiredSize"] <= scaling["maxSize"]
        assert scaling["maxSize"] > scaling["minSize"]  # room to scale out


def test_keda_cpu_trigger_has_metrics_and_nodes_can_follow(aws_stack: StackRun) -> None:
    spec = aws_stack.k8s_named("ScaledObject", "trellis-worker")["spec"]
    assert any(t["type"] == "cpu" for t in spec["triggers"])  # served by metrics-server (above)
    assert aws_stack.k8s_named("HorizontalPodAutoscaler", "trellis-api")["spec"]["metrics"][0]["resource"]["name"] \
        == "cpu"
