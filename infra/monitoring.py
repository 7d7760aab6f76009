"""Monitoring in the cloud provider's console: what an operator of one environment sees in AWS.

Owns, per environment: an SNS topic for alerts (its policy lets CloudWatch and AWS Budgets publish; email and
HTTPS webhook subscribers from config), the CloudWatch alarms that page a person (RDS free storage and
connections, ElastiCache evictions and memory, load balancer 5xx and unhealthy targets, EKS nodes not ready),
a CloudWatch dashboard laid out for "is it the platform or the app?", and a monthly AWS Budget alerting at 80 %
and 100 %. Container Insights (the metrics behind the node alarm and the EKS widgets) is the addons layer's
``infra/insights.py``; the settings are ``infra/monitoring_config.py``.

Every identifier comes in as an input from the resources the program created (through the layers' outputs);
nothing is typed by hand. The API's ALB is created by the AWS Load Balancer Controller, not by this program:
``ingress_load_balancer`` finds it, and its target group, by the tags the controller puts on them, once the
Ingress reports the ALB ready. Alarms exist in every environment but notify only where ``alarms_notify`` is on
(prod by default): dev stays quiet unless asked. The topic is not KMS-encrypted: CloudWatch and Budgets can only
publish to a topic whose key policy names them, and a notification carries alarm names and numbers, no data.
Outputs: ``dashboard_url``, ``topic_arn``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.cloudwatch import MonitoringTargets, alarm_specs, dashboard_body
from infra.monitoring_config import AlarmThresholds, MonitoringConfig, monitoring_config

__all__ = ["AlarmThresholds", "LoadBalancerRef", "Monitoring", "MonitoringArgs", "MonitoringConfig",
           "ingress_load_balancer", "load_balancer_host", "load_balancer_tags",
           "monitoring_config"]

# The tags the AWS Load Balancer Controller puts on every ELB resource it creates for an Ingress group.
CLUSTER_TAG, STACK_TAG = "elbv2.k8s.aws/cluster", "ingress.k8s.aws/stack"


@dataclass(frozen=True)
class LoadBalancerRef:
    """An Application Load Balancer in front of the API: ``arn_suffix`` (``app/<name>/<id>``, the CloudWatch
    dimension) and its target groups' suffixes (``targetgroup/<name>/<id>``)."""

    arn_suffix: pulumi.Input[str]
    target_group_arn_suffixes: Sequence[pulumi.Input[str]] = ()


def load_balancer_tags(cluster_name: str, ingress_group: str) -> dict[str, str]:
    """The tags identifying the ALB (and its target groups) of an Ingress group. An Ingress without
    ``group.name`` is its own group, ``<namespace>/<name>``."""
    return {CLUSTER_TAG: cluster_name, STACK_TAG: ingress_group}


def load_balancer_host(status: Any) -> str | None:
    """The host name in an Ingress's status (what Pulumi awaits before it reports the Ingress created), or None."""
    entries = (status.load_balancer.ingress if status is not None and status.load_balancer else None) or []
    return entries[0].hostname if entries else None


def ingress_load_balancer(cluster_name: pulumi.Input[str], ingress_group: str, ready: pulumi.Input[object],
                          opts: pulumi.InvokeOutputOptions) -> LoadBalancerRef:
    """The ALB the controller made for ``ingress_group``, looked up once ``ready`` (the Ingress's load-balancer
    status, which Pulumi awaits) resolves, so the first ``up`` finds it too. The group routes to one Service port
    (the API), so it has exactly one target group; a lookup matching none or several fails the update."""
    tags = pulumi.Output.all(cluster_name, ready).apply(lambda v: load_balancer_tags(v[0], ingress_group))
    lb = aws.lb.get_load_balancer_output(tags=tags, opts=opts)
    tg = aws.lb.get_target_group_output(tags=tags, opts=opts)
    return LoadBalancerRef(lb.arn_suffix, [tg.arn_suffix])


def _members(replication_group_id: str, nodes: int) -> tuple[str, ...]:
    return tuple(f"{replication_group_id}-{i:03d}" for i in range(1, nodes + 1))


@dataclass(frozen=True)
class MonitoringArgs:
    """The identifiers of the resources to watch, as the program's outputs. ``cache_nodes`` is the replication
    group's node count (its nodes are ``<id>-001``, ``-002``..., ElastiCache's naming, so the alarm set is known
    before the group exists); ``nat_gateway_ids`` one list (its length is only known from the network layer)."""

    environment: str
    region: str
    config: MonitoringConfig
    cluster_name: pulumi.Input[str]
    db_instance_id: pulumi.Input[str]
    cache_replication_group_id: pulumi.Input[str]
    cache_nodes: int
    bucket_name: pulumi.Input[str]
    nat_gateway_ids: pulumi.Input[Sequence[pulumi.Input[str]]] = ()
    db_replica_ids: Sequence[pulumi.Input[str]] = ()
    load_balancer: LoadBalancerRef | None = None
    cost_tag: tuple[str, str] | None = None  # (key, value) of a cost-allocation tag scoping the budget

    def validate(self) -> None:
        found = list(self.config.problems())
        if self.cache_nodes < 1:
            found.append("monitoring needs the cache's node count")
        if self.environment not in ("dev", "prod"):
            found.append(f"monitoring is for the AWS environments, not {self.environment!r}")
        if found:
            raise ValueError("; ".join(found))


class Monitoring(pulumi.ComponentResource):
    """Alerts topic, alarms, dashboard and budget of one environment."""

    dashboard_url: pulumi.Output[str]
    topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        args.validate()
        super().__init__("trellis:infra:Monitoring", name, None, opts)
        child, cfg = pulumi.ResourceOptions(parent=self), args.config
        if args.environment == "prod" and cfg.example_subscribers():
            pulumi.log.warn(f"monitoring: {', '.join(cfg.example_subscribers())} is a placeholder at a reserved "
                            "example domain: prod's alerts reach nobody until trellis:monitoring names your on-call",
                            self)
        topic = self._topic(name, cfg, child)
        lb = args.load_balancer
        targets = pulumi.Output.all(
            args.cluster_name, args.db_instance_id, args.cache_replication_group_id, args.bucket_name,
            pulumi.Output.from_input(args.nat_gateway_ids), pulumi.Output.all(*args.db_replica_ids),
            lb.arn_suffix if lb else None, pulumi.Output.all(*(lb.target_group_arn_suffixes if lb else ())),
        ).apply(lambda v: MonitoringTargets(
            args.environment, args.region, v[0], v[1], _members(v[2], args.cache_nodes), v[3], tuple(v[4]),
            tuple(v[5]), v[6], tuple(v[7])))
        self._alarms(name, args, targets, topic.arn, child)
        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard", dashboard_name=f"trellis-{args.environment}",
            dashboard_body=targets.apply(lambda t: json.dumps(dashboard_body(t))), opts=child)
        self._budget(name, args, topic.arn, child)
        self.topic_arn = topic.arn
        self.dashboard_url = dashboard.dashboard_name.apply(
            lambda n: f"https://{args.region}.console.aws.amazon.com/cloudwatch/home?region={args.region}"
                      f"#dashboards/dashboard/{n}")
        self.register_outputs({"dashboard_url": self.dashboard_url, "topic_arn": self.topic_arn})

    @staticmethod
    def _topic(name: str, cfg: MonitoringConfig, child: pulumi.ResourceOptions) -> aws.sns.Topic:
        topic = aws.sns.Topic(f"{name}-alerts", opts=child)
        aws.sns.TopicPolicy(f"{name}-alerts", arn=topic.arn, policy=topic.arn.apply(lambda arn: json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Sid": "AlarmsAndBudgetsPublish", "Effect": "Allow",
                           "Principal": {"Service": ["cloudwatch.amazonaws.com", "budgets.amazonaws.com"]},
                           "Action": "SNS:Publish", "Resource": arn,
                           # Only this account's alarms and budgets (the account is the ARN's fifth field).
                           "Condition": {"StringEquals": {"aws:SourceAccount": arn.split(":")[4]}}}]})),
            opts=child)
        for i, email in enumerate(cfg.emails):
            aws.sns.TopicSubscription(f"{name}-email-{i}", topic=topic.arn, protocol="email", endpoint=email,
                                      opts=child)
        for i, url in enumerate(cfg.webhooks):
            aws.sns.TopicSubscription(f"{name}-webhook-{i}", topic=topic.arn, protocol="https", endpoint=url,
                                      opts=child)
        return topic

    @staticmethod
    def _alarms(name: str, args: MonitoringArgs, targets: pulumi.Output[MonitoringTargets],
                topic_arn: pulumi.Output[str], child: pulumi.ResourceOptions) -> None:
        """One MetricAlarm per spec. Specs depend on resolved ids (one per cache node, per target group), so
        the set comes from the known shape (node and target-group counts); the ids only fill in dimensions."""
        th, lb = args.config.thresholds, args.load_balancer
        shape = MonitoringTargets(args.environment, args.region, "cluster", "db", _members("cache", args.cache_nodes),
                                  "bucket", load_balancer="lb" if lb else None,
                                  target_groups=tuple(f"tg{i}" for i in range(len(lb.target_group_arn_suffixes)))
                                  if lb else ())
        for index, spec in enumerate(alarm_specs(shape, th)):
            resolved = targets.apply(lambda t, i=index: alarm_specs(t, th)[i])
            aws.cloudwatch.MetricAlarm(
                f"{name}-{spec.key}", name=f"trellis-{args.environment}-{spec.key}", alarm_description=spec.meaning,
                namespace=spec.namespace, metric_name=spec.metric,
                dimensions=resolved.apply(lambda s: s.dimensions),
                # Percentiles ("p95") are CloudWatch's extended statistics, a separate argument.
                statistic=None if spec.statistic.startswith("p") else spec.statistic,
                extended_statistic=spec.statistic if spec.statistic.startswith("p") else None,
                comparison_operator=spec.comparison, threshold=spec.threshold, period=th.period_seconds,
                evaluation_periods=th.evaluation_periods, treat_missing_data="notBreaching",
                actions_enabled=args.config.alarms_notify, alarm_actions=[topic_arn], ok_actions=[topic_arn],
                opts=child)

    @staticmethod
    def _budget(name: str, args: MonitoringArgs, topic_arn: pulumi.Output[str],
                child: pulumi.ResourceOptions) -> None:
        tag = args.cost_tag or ("environment", args.environment)
        aws.budgets.Budget(
            f"{name}-budget", name=f"trellis-{args.environment}-monthly", budget_type="COST", time_unit="MONTHLY",
            limit_amount=f"{args.config.monthly_budget_usd:.2f}", limit_unit="USD",
            cost_filters=[{"name": "TagKeyValue", "values": [f"user:{tag[0]}${tag[1]}"]}],
            notifications=[{"comparison_operator": "GREATER_THAN", "threshold": percent, "threshold_type":
                            "PERCENTAGE", "notification_type": "ACTUAL", "subscriber_sns_topic_arns": [topic_arn]}
                           for percent in (80, 100)],
            opts=child)
