"""Issue 19 in the real program (Pulumi's mock runtime; the AWS APIs cannot run here): for dev (one stack) and prod
(four layer stacks), the CloudWatch dashboard and alarms are drawn from the stack's own resources, whose identifiers
flow from the cluster and data layers' outputs through StackReferences; the ALB is the one the controller made for
the app's Ingress, found by its tags; every alarm notifies the topic; prod's alarms cover the issue's list; the
budget exists; Container Insights is in the addons layer with one log shipper per environment."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from infra_harness import REPO, StackRun, alb_suffix, load_stack_config
from test_infra_monitoring import SCHEMA, dimension_values

from infra.config import ConfigError
from infra.layer import Layer, split_stack
from infra.monitoring import load_balancer_host, load_balancer_tags
from infra.monitoring_config import monitoring_config

ALARM, DASHBOARD, BUDGET = ("aws:cloudwatch/metricAlarm:MetricAlarm", "aws:cloudwatch/dashboard:Dashboard",
                            "aws:budgets/budget:Budget")
MONITORING_TYPES = (ALARM, DASHBOARD, BUDGET, "aws:sns/topic:Topic")


def _body(run: StackRun) -> dict[str, Any]:
    return json.loads(run.one(DASHBOARD).inputs["dashboardBody"])


def _own_ids(run: StackRun) -> dict[str, Any]:
    """The identifiers of the resources this environment created (the mocks' ids and computed outputs)."""
    cfg, out = run.config, run.outputs
    (group,) = run.of_type("aws:elasticache/replicationGroup:ReplicationGroup")
    tags = load_balancer_tags(out["cluster_name"], f"{cfg.namespace}/trellis")
    return {
        "cluster": out["cluster_name"], "bucket": out["bucket_name"], "db": out["database_instance_id"],
        "nat": [f"{r.name}-id" for r in run.of_type("aws:ec2/natGateway:NatGateway")],
        "cache": [f"{group.name}-id-{i:03d}" for i in range(1, cfg.cache.nodes + 1)],
        "lb": alb_suffix({"tags": tags}), "tg": alb_suffix({"tags": tags}, "targetgroup"),
    }


def test_the_dashboard_draws_the_stacks_own_resources(aws_stack: StackRun) -> None:
    ids = _own_ids(aws_stack)
    assert ids["db"].startswith(f"trellis-{aws_stack.config.environment}-db-pg")  # the RDS instance's identifier
    assert len(ids["nat"]) == (3 if aws_stack.config.network.nat_per_az else 1)
    expected = {ids["cluster"], ids["bucket"], ids["db"], ids["lb"], ids["tg"], *ids["nat"], *ids["cache"]}
    body = _body(aws_stack)
    assert expected <= dimension_values(body)
    assert dimension_values(body) - expected <= {"StandardStorage", "EntireBucket"}  # CloudWatch's fixed values
    assert aws_stack.one(DASHBOARD).inputs["dashboardName"] == f"trellis-{aws_stack.config.environment}"
    import jsonschema_rs

    jsonschema_rs.validate(SCHEMA, body)
    alb = [w["properties"]["title"] for w in body["widgets"] if "AWS/ApplicationELB" in json.dumps(w)]
    assert alb == ["Requests", "4xx / 5xx", "Target response time p95 (s)", "Unhealthy targets"]


def test_every_alarm_notifies_the_topic(aws_stack: StackRun) -> None:
    topic = aws_stack.outputs["alerts_topic_arn"]
    alarms = aws_stack.of_type(ALARM)
    assert alarms and all(a.inputs["alarmActions"] == [topic] == a.inputs["okActions"] for a in alarms)
    assert {a.inputs["actionsEnabled"] for a in alarms} == {aws_stack.config.is_prod}  # dev is quiet unless asked
    (policy,) = aws_stack.of_type("aws:sns/topicPolicy:TopicPolicy")
    assert json.loads(policy.inputs["policy"])["Statement"][0]["Resource"] == topic


def test_prod_alarms_cover_what_pages_a_person(prod: StackRun) -> None:
    alarms = [a.inputs for a in prod.of_type(ALARM)]
    assert {(a["namespace"], a["metricName"]) for a in alarms} == {
        ("AWS/RDS", "FreeStorageSpace"), ("AWS/RDS", "DatabaseConnections"),
        ("AWS/ElastiCache", "Evictions"), ("AWS/ElastiCache", "DatabaseMemoryUsagePercentage"),
        ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"), ("AWS/ApplicationELB", "UnHealthyHostCount"),
        ("AWS/ApplicationELB", "TargetResponseTime"),
        ("ContainerInsights", "cluster_failed_node_count")}
    ids = _own_ids(prod)
    evictions = sorted(a["dimensions"]["CacheClusterId"] for a in alarms if a["metricName"] == "Evictions")
    assert evictions == ids["cache"]  # one per node of the data layer's replication group
    (unhealthy,) = [a for a in alarms if a["metricName"] == "UnHealthyHostCount"]
    assert unhealthy["dimensions"] == {"LoadBalancer": ids["lb"], "TargetGroup": ids["tg"]}
    assert all(a["period"] == 60 and a["evaluationPeriods"] == 3 for a in alarms)  # prod pages sooner than dev
    (slow,) = [a for a in alarms if a["metricName"] == "TargetResponseTime"]
    assert slow["extendedStatistic"] == "p95" and "statistic" not in slow and slow["threshold"] == 10
    assert all(a["statistic"] in ("Minimum", "Maximum", "Sum") for a in alarms if a is not slow)


def test_the_monthly_budget_alerts_the_topic(aws_stack: StackRun) -> None:
    budget = aws_stack.one(BUDGET).inputs
    assert budget["timeUnit"] == "MONTHLY" and budget["limitAmount"] == (
        "2000.00" if aws_stack.config.is_prod else "300.00")
    assert sorted(n["threshold"] for n in budget["notifications"]) == [80, 100]
    assert all(n["subscriberSnsTopicArns"] == [aws_stack.outputs["alerts_topic_arn"]]
               for n in budget["notifications"])


def test_monitoring_lives_in_the_app_layer_and_reads_the_others(prod: StackRun) -> None:
    by_layer = {split_stack(run.resources[0].stack)[1]: run for run in prod.layers}
    for layer, run in by_layer.items():
        has = {t for t in MONITORING_TYPES if run.of_type(t)}
        assert has == (set(MONITORING_TYPES) if layer is Layer.APP else set()), layer
    app = by_layer[Layer.APP]
    assert {"dashboard_url", "alerts_topic_arn"} <= set(app.outputs)
    assert not {"dashboard_url", "alerts_topic_arn"} & {k for r in prod.layers[:3] for k in r.outputs}
    assert app.outputs["dashboard_url"].endswith("#dashboards/dashboard/trellis-prod")
    # The ALB is looked up by the app layer (after its Ingress is ready), by nobody else.
    lookups = ("aws:lb/getLoadBalancer:getLoadBalancer", "aws:lb/getTargetGroup:getTargetGroup")
    assert all(c in app.calls for c in lookups)
    assert not any(c in run.calls for run in prod.layers[:3] for c in lookups)
    # What it watches was exported by the cluster and data layers.
    assert {"nat_gateway_ids", "cluster_name"} <= set(by_layer[Layer.CLUSTER].outputs)
    assert {"database_instance_id", "cache_replication_group_id"} <= set(by_layer[Layer.DATA].outputs)
    addon = [a for a in by_layer[Layer.ADDONS].of_type("aws:eks/addon:Addon")
             if a.inputs["addonName"] == "amazon-cloudwatch-observability"]
    assert len(addon) == 1 and addon[0].inputs["clusterName"] == prod.outputs["cluster_name"]


def test_local_has_no_cloudwatch_monitoring(local: StackRun) -> None:
    assert not any(local.of_type(t) for t in MONITORING_TYPES)
    assert "dashboard_url" not in local.outputs


def test_prod_needs_a_subscriber_and_flags_the_placeholder() -> None:
    cfg = load_stack_config("prod-app")
    with pytest.raises(ConfigError, match="needs at least one email or webhook"):
        dataclasses.replace(cfg, monitoring={"emails": []}).validate()
    shipped = cfg.monitoring_settings
    assert shipped.emails and shipped.alarms_notify
    assert shipped.example_subscribers() == list(shipped.emails)  # the shipped address is an obvious placeholder
    real = monitoring_config("prod", {"emails": ["oncall@corp.test", "ops@sub.example.org"],
                                      "webhooks": ["https://hooks.chat.example.com/x", "https://chat.corp.test/x"]})
    assert real.example_subscribers() == ["ops@sub.example.org", "https://hooks.chat.example.com/x"]


def test_pulumi_yaml_lists_the_monitoring_settings() -> None:
    text = (REPO / "Pulumi.yaml").read_text()
    assert "#   monitoring" in text and "logRetentionDays" in text and "thresholds" in text


def test_the_alb_lookup_waits_for_the_ingress_status() -> None:
    """The lookups' tags resolve only once the Ingress's status names a load balancer, so they never run before
    the controller made the ALB; an Ingress without one yields no host (and a failed lookup, not a wrong one)."""
    class Obj:
        def __init__(self, **kw: Any) -> None:
            self.__dict__.update(kw)

    host = "k8s-trellisprod-trellis-0a1b2c.us-east-1.elb.amazonaws.com"
    status = Obj(load_balancer=Obj(ingress=[Obj(hostname=host)]))
    assert load_balancer_host(status) == host
    assert load_balancer_host(Obj(load_balancer=Obj(ingress=None))) is None
    assert load_balancer_host(Obj(load_balancer=None)) is None and load_balancer_host(None) is None


def test_the_pack_holds_each_prod_layer_to_the_alarm_rule(prod: StackRun) -> None:
    from infra.policy.rules import STACK_RULES

    rule = STACK_RULES["prod-alarms-have-actions"]
    stacks = {split_stack(run.resources[0].stack)[1]: [(r.type, r.inputs) for r in run.resources if r.custom]
              for run in prod.layers}
    assert all(rule(resources) == [] for resources in stacks.values())  # cluster, data, addons: no app, exempt
    app = stacks[Layer.APP]
    quiet = [(t, {**p, "actionsEnabled": False} if t == ALARM else p) for t, p in app]
    assert rule(quiet) and all("actions enabled" in m for m in rule(quiet))
    assert rule([(t, p) for t, p in app if t != ALARM]) == ["prod must have CloudWatch alarms (infra/monitoring.py)"]
