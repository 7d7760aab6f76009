"""The Monitoring component under Pulumi's mock runtime (the AWS APIs cannot run here): for dev and prod, the
dashboard is drawn from the identifiers handed in, every alarm notifies the topic, prod's alarm set is complete,
the budget alerts at 80 % and 100 %; the dashboard body is checked against CloudWatch's documented structure;
and the config's per-environment defaults and validation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import pulumi
import pytest
from pulumi.runtime.sync_await import _sync_await

from infra.cloudwatch import MonitoringTargets, dashboard_body
from infra.monitoring import LoadBalancerRef, Monitoring, MonitoringArgs, monitoring_config

IDS = {"cluster": "trellis-{env}-eks", "db": "trellis-{env}-db-pg", "cache": "trellis-{env}-cache-rg",
       "bucket": "trellis-{env}-objects", "nat": "nat-0a{env}", "lb": "app/trellis-{env}-api/50dc6c495c0c9188",
       "tg": "targetgroup/trellis-{env}-api/6d0ecf831eec9f09"}
ACCOUNT = "123456789012"

# CloudWatch's dashboard body ("Dashboard Body Structure and Syntax"): widgets of 0-500, a 24-column grid,
# metric widgets with a region and arrays of [namespace, metric, dimension name, value, ...(, rendering {})].
METRIC_ROW = {"type": "array", "minItems": 2, "prefixItems": [{"type": "string"}, {"type": "string"}],
              "items": {"anyOf": [{"type": "string", "minLength": 1}, {"type": "object"}]}}
STAT = "^(Average|Sum|Minimum|Maximum|SampleCount|p[0-9]{1,2})$"
SCHEMA = {
    "type": "object", "required": ["widgets"], "additionalProperties": False,
    "properties": {
        "start": {"type": "string"}, "end": {"type": "string"},
        "periodOverride": {"enum": ["auto", "inherit"]},
        "widgets": {"type": "array", "maxItems": 500, "items": {
            "type": "object", "required": ["type", "properties"], "additionalProperties": False,
            "properties": {
                "type": {"enum": ["metric", "text", "log", "alarm", "explorer"]},
                "x": {"type": "integer", "minimum": 0}, "y": {"type": "integer", "minimum": 0},
                "width": {"type": "integer", "minimum": 1, "maximum": 24},
                "height": {"type": "integer", "minimum": 1, "maximum": 1000},
                "properties": {"type": "object"}},
            "allOf": [
                {"if": {"properties": {"type": {"const": "metric"}}}, "then": {"properties": {"properties": {
                    "required": ["metrics", "region"],
                    "properties": {
                        "metrics": {"type": "array", "minItems": 1, "items": METRIC_ROW},
                        "region": {"type": "string", "pattern": "^[a-z]{2}(-[a-z]+)+-[0-9]$"},
                        "period": {"type": "integer", "minimum": 60, "multipleOf": 60},
                        "stat": {"type": "string", "pattern": STAT},
                        "view": {"enum": ["timeSeries", "singleValue", "gauge", "bar", "pie"]},
                        "stacked": {"type": "boolean"}, "title": {"type": "string"}}}}}},
                {"if": {"properties": {"type": {"const": "text"}}}, "then": {"properties": {"properties": {
                    "required": ["markdown"], "properties": {"markdown": {"type": "string"}}}}}},
            ]}},
    },
}


@dataclass
class Made:
    type: str
    name: str
    inputs: dict[str, Any]


class Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.made: list[Made] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.made.append(Made(args.typ, args.name, dict(args.inputs)))
        out = dict(args.inputs)
        if args.typ == "aws:sns/topic:Topic":
            out["arn"] = f"arn:aws:sns:us-east-1:{ACCOUNT}:{args.name}"
        if args.typ == "aws:iam/role:Role":
            out.update(arn=f"arn:aws:iam::{ACCOUNT}:role/{args.name}", name=args.name)
        return f"{args.name}-id", out

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        raise AssertionError(f"unexpected provider call {args.token}")


@dataclass
class Built:
    env: str
    made: list[Made]
    outputs: dict[str, str]

    def of(self, typ: str) -> list[Made]:
        return [m for m in self.made if m.type == typ]

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.of("aws:cloudwatch/dashboard:Dashboard")[0].inputs["dashboardBody"])


def ids(env: str) -> dict[str, str]:
    return {k: v.format(env=env) for k, v in IDS.items()}


def build(env: str, raw: dict[str, Any] | None = None) -> Built:
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, project="trellis", stack=env, preview=False)
    i, holder = ids(env), {}
    cfg = monitoring_config(env, {"emails": ["oncall@example.org"], **(raw or {})})

    def program() -> None:
        # Every identifier arrives as an Output, as the program's resources hand them over.
        out = pulumi.Output.from_input
        holder["m"] = Monitoring(f"trellis-{env}-monitoring", MonitoringArgs(
            environment=env, region="us-east-1", config=cfg, cluster_name=out(i["cluster"]),
            db_instance_id=out(i["db"]),
            cache_replication_group_id=out(i["cache"]), cache_nodes=2, bucket_name=out(i["bucket"]),
            nat_gateway_ids=[out(i["nat"])], load_balancer=LoadBalancerRef(out(i["lb"]), [out(i["tg"])])))

    pulumi.runtime.test(program)()
    m = holder["m"]
    outputs = {k: _sync_await(getattr(m, k).future()) for k in ("dashboard_url", "topic_arn")}
    return Built(env, mocks.made, outputs)


@pytest.fixture(scope="module", params=["dev", "prod"])
def built(request: pytest.FixtureRequest) -> Built:
    return build(request.param)


def dimension_values(body: dict[str, Any]) -> set[str]:
    values = set()
    for widget in body["widgets"]:
        for row in widget["properties"].get("metrics", []):
            names = [x for x in row[2:] if isinstance(x, str)]
            values |= set(names[1::2])
    return values


def test_the_dashboard_is_drawn_from_the_resources_handed_in(built):
    i = ids(built.env)
    members = {f"{i['cache']}-001", f"{i['cache']}-002"}
    expected = {i["cluster"], i["db"], i["bucket"], i["nat"], i["lb"], i["tg"], *members}
    # Besides the resources' own ids, only fixed values of CloudWatch's dimensions appear.
    assert dimension_values(built.body) - expected <= {"StandardStorage", "EntireBucket"}
    assert expected <= dimension_values(built.body)
    assert built.of("aws:cloudwatch/dashboard:Dashboard")[0].inputs["dashboardName"] == f"trellis-{built.env}"


def test_the_dashboard_body_is_valid_cloudwatch_dashboard_json(built):
    jsonschema_rs.validate(SCHEMA, built.body)
    layers = [w["properties"]["markdown"] for w in built.body["widgets"] if w["type"] == "text"]
    assert len(layers) == 4 and all(built.env in t for t in layers)


def test_the_schema_catches_what_cloudwatch_rejects():
    good = dashboard_body(MonitoringTargets("dev", "us-east-1", "c", "db", ("n-001",), "b"))
    jsonschema_rs.validate(SCHEMA, good)
    for broken in ({**good, "widgets": [{**good["widgets"][1], "width": 25}]},
                   {**good, "widgets": [{**good["widgets"][1], "properties": {"metrics": []}}]},
                   {**good, "unknown": 1}):
        assert not jsonschema_rs.is_valid(SCHEMA, broken)


def test_every_alarm_notifies_the_topic(built):
    topic = built.outputs["topic_arn"]
    alarms = built.of("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert alarms and all(a.inputs["alarmActions"] == [topic] and a.inputs["okActions"] == [topic]
                          for a in alarms)
    # Quiet in dev unless asked: the alarms exist (their state shows in the console) but send nothing.
    assert {a.inputs["actionsEnabled"] for a in alarms} == {built.env == "prod"}


def test_prod_alarm_set_covers_what_pages_a_person():
    prod = build("prod")
    alarms = prod.of("aws:cloudwatch/metricAlarm:MetricAlarm")
    got = {(a.inputs["namespace"], a.inputs["metricName"]) for a in alarms}
    assert got == {("AWS/RDS", "FreeStorageSpace"), ("AWS/RDS", "DatabaseConnections"),
                   ("AWS/ElastiCache", "Evictions"), ("AWS/ElastiCache", "DatabaseMemoryUsagePercentage"),
                   ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"), ("AWS/ApplicationELB", "UnHealthyHostCount"),
                   ("AWS/ApplicationELB", "TargetResponseTime"),
                   ("ContainerInsights", "cluster_failed_node_count")}
    per_node = [a.inputs["dimensions"]["CacheClusterId"] for a in alarms if a.inputs["metricName"] == "Evictions"]
    assert sorted(per_node) == ["trellis-prod-cache-rg-001", "trellis-prod-cache-rg-002"]


def test_prod_thresholds_are_stricter_than_dev():
    dev = monitoring_config("dev", None).thresholds
    prod = monitoring_config("prod", {"emails": ["oncall@example.org"]}).thresholds
    assert prod.rds_free_storage_gib > dev.rds_free_storage_gib and prod.cache_evictions < dev.cache_evictions
    assert prod.lb5xx < dev.lb5xx and prod.period_seconds < dev.period_seconds
    assert prod.lb_response_seconds < dev.lb_response_seconds
    override = build("dev", {"alarmsNotify": True, "thresholds": {"rdsConnections": 42}})
    connections = next(a for a in override.of("aws:cloudwatch/metricAlarm:MetricAlarm")
                       if a.inputs["metricName"] == "DatabaseConnections")
    assert connections.inputs["threshold"] == 42 and connections.inputs["actionsEnabled"] is True


def test_topic_policy_and_subscribers(built):
    policy = json.loads(built.of("aws:sns/topicPolicy:TopicPolicy")[0].inputs["policy"])
    statement = policy["Statement"][0]
    assert set(statement["Principal"]["Service"]) == {"cloudwatch.amazonaws.com", "budgets.amazonaws.com"}
    assert statement["Resource"] == built.outputs["topic_arn"]
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
    subs = built.of("aws:sns/topicSubscription:TopicSubscription")
    assert [(s.inputs["protocol"], s.inputs["endpoint"]) for s in subs] == [("email", "oncall@example.org")]


def test_monthly_budget_alerts_at_80_and_100_percent(built):
    budget = built.of("aws:budgets/budget:Budget")[0].inputs
    assert budget["timeUnit"] == "MONTHLY" and budget["budgetType"] == "COST"
    assert budget["limitAmount"] == ("2000.00" if built.env == "prod" else "300.00")
    assert sorted(n["threshold"] for n in budget["notifications"]) == [80, 100]
    assert all(n["subscriberSnsTopicArns"] == [built.outputs["topic_arn"]] for n in budget["notifications"])
    assert budget["costFilters"] == [{"name": "TagKeyValue", "values": [f"user:environment${built.env}"]}]


def test_outputs_name_the_dashboard_and_the_topic(built):
    assert built.outputs["dashboard_url"].endswith(f"#dashboards/dashboard/trellis-{built.env}")
    assert "region=us-east-1" in built.outputs["dashboard_url"]
    assert built.outputs["topic_arn"].startswith("arn:aws:sns:us-east-1:")


@pytest.mark.parametrize(("raw", "message"), [
    ({"alarmsNotify": True, "emails": []}, "needs at least one email or webhook"),
    ({"webhooks": ["http://chat.example/hook"]}, "must be https://"),
    ({"logRetentionDays": 10}, "logRetentionDays must be one of"),
    ({"thresholds": {"cacheMemoryPercent": 120}}, "<= 100"),
    ({"pagerduty": True}, "unknown monitoring settings: pagerduty"),
])
def test_bad_monitoring_config_is_refused(raw, message):
    with pytest.raises(ValueError, match=message):
        monitoring_config("prod", raw)


def test_the_documented_config_example_is_valid():
    import re
    from pathlib import Path

    import yaml

    text = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    block = re.search(r"```yaml\n(  trellis:monitoring:\n.*?)```", text, re.S)
    assert block, "docs/operations.md shows a trellis:monitoring example"
    raw = yaml.safe_load(block.group(1))["trellis:monitoring"]
    cfg = monitoring_config("prod", raw)
    assert cfg.thresholds.lb5xx == 10 and cfg.webhooks and cfg.log_retention_days == 90


def test_invalid_args_fail_before_anything_is_created():
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, project="trellis", stack="local", preview=False)
    cfg = monitoring_config("dev", None)

    def program() -> None:
        with pytest.raises(ValueError, match="not 'local'"):
            Monitoring("m", MonitoringArgs(environment="local", region="us-east-1", config=cfg, cluster_name="c",
                                           db_instance_id="d", cache_replication_group_id="r", cache_nodes=1,
                                           bucket_name="b"))

    pulumi.runtime.test(program)()
    assert mocks.made == []
