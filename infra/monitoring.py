"""Monitoring in the cloud provider's console: what an operator of one environment sees in AWS.

Owns, per environment: an SNS topic for alerts (its policy lets CloudWatch and AWS Budgets publish; email and
HTTPS webhook subscribers from config), the CloudWatch alarms that page a person (RDS free storage and
connections, ElastiCache evictions and memory, load balancer 5xx and unhealthy targets, EKS nodes not ready),
a CloudWatch dashboard laid out for "is it the platform or the app?", the EKS add-on
``amazon-cloudwatch-observability`` (Container Insights and pod logs, with an IRSA role and its log groups
created here so their retention is set per environment), and a monthly AWS Budget alerting at 80 % and 100 %.

Every identifier comes in as an input from the resources the program created; nothing is typed by hand. Alarms
exist in every environment but notify only where ``alarms_notify`` is on (prod by default): dev stays quiet
unless asked. The topic is not KMS-encrypted: CloudWatch and Budgets can only publish to a topic whose key
policy names them, and a notification carries alarm names and numbers, no data.
Outputs: ``dashboard_url``, ``topic_arn``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.cloudwatch import MonitoringTargets, alarm_specs, dashboard_body
from infra.iam import irsa_trust_policy

__all__ = ["AlarmThresholds", "LoadBalancerRef", "Monitoring", "MonitoringArgs", "MonitoringConfig",
           "monitoring_config"]

ADDON = "amazon-cloudwatch-observability"
AGENT_NAMESPACE, AGENT_SERVICE_ACCOUNT = "amazon-cloudwatch", "cloudwatch-agent"
LOG_GROUP_KINDS = ("application", "dataplane", "host", "performance")  # the groups the add-on writes to
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653)


@dataclass(frozen=True)
class AlarmThresholds:
    """When an alarm fires. Counts are per ``period_seconds``; ``evaluation_periods`` in a row."""

    rds_free_storage_gib: float = 2.0
    rds_connections: int = 80
    cache_evictions: int = 100
    cache_memory_percent: float = 90.0
    lb5xx: int = 50
    lb_unhealthy_targets: int = 1
    nodes_not_ready: int = 1
    period_seconds: int = 300
    evaluation_periods: int = 2

    def problems(self) -> list[str]:
        found = [f"monitoring.thresholds.{f.name} must be > 0" for f in fields(self) if getattr(self, f.name) <= 0]
        if self.cache_memory_percent > 100:
            found.append("monitoring.thresholds.cacheMemoryPercent must be <= 100")
        if self.period_seconds % 60:
            found.append("monitoring.thresholds.periodSeconds must be a multiple of 60")
        return found


# Prod pages earlier and on a single bad period; dev only ever shows the alarm state.
_PROD_THRESHOLDS = AlarmThresholds(rds_free_storage_gib=10.0, rds_connections=150, cache_evictions=1,
                                   cache_memory_percent=80.0, lb5xx=10, period_seconds=60, evaluation_periods=3)


@dataclass(frozen=True)
class MonitoringConfig:
    """``trellis:monitoring`` of a stack (camelCase keys), over per-environment defaults."""

    alarms_notify: bool = False
    emails: tuple[str, ...] = ()
    webhooks: tuple[str, ...] = ()  # HTTPS endpoints (a chat integration's webhook URL)
    monthly_budget_usd: float = 300.0
    log_retention_days: int = 7
    thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)

    def problems(self) -> list[str]:
        found = list(self.thresholds.problems())
        found += [f"monitoring.emails: {e!r} is not an address" for e in self.emails if "@" not in e]
        found += [f"monitoring.webhooks: {w!r} must be https://" for w in self.webhooks if not w.startswith("https://")]
        if self.monthly_budget_usd <= 0:
            found.append("monitoring.monthlyBudgetUsd must be > 0")
        if self.log_retention_days not in RETENTION_DAYS:
            found.append(f"monitoring.logRetentionDays must be one of {RETENTION_DAYS}")
        if self.alarms_notify and not (self.emails or self.webhooks):
            found.append("monitoring.alarmsNotify needs at least one email or webhook subscriber")
        return found


def _snake(key: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


def monitoring_config(environment: str, raw: Mapping[str, Any] | None) -> MonitoringConfig:
    """Defaults for ``environment`` (prod: notify, stricter thresholds, 2000 USD, 90-day logs) overridden by
    the stack's ``trellis:monitoring`` object. Unknown keys raise ``ValueError``; so do invalid values."""
    prod = environment == "prod"
    base = MonitoringConfig(alarms_notify=prod, monthly_budget_usd=2000.0 if prod else 300.0,
                            log_retention_days=90 if prod else 7,
                            thresholds=_PROD_THRESHOLDS if prod else AlarmThresholds())
    raw = dict(raw or {})
    limits = {_snake(k): v for k, v in (raw.pop("thresholds", None) or {}).items()}
    values = {_snake(k): v for k, v in raw.items()}
    known = {f.name for f in fields(MonitoringConfig)} - {"thresholds"}
    unknown = sorted(set(values) - known) + sorted(set(limits) - {f.name for f in fields(AlarmThresholds)})
    if unknown:
        raise ValueError(f"unknown monitoring settings: {', '.join(unknown)}")
    for key in ("emails", "webhooks"):
        if key in values:
            values[key] = tuple(values[key])
    cfg = replace(base, **values, thresholds=replace(base.thresholds, **limits))
    if cfg.problems():
        raise ValueError("; ".join(cfg.problems()))
    return cfg


@dataclass(frozen=True)
class LoadBalancerRef:
    """An Application Load Balancer in front of the API: ``arn_suffix`` (``app/<name>/<id>``, the CloudWatch
    dimension) and its target groups' suffixes (``targetgroup/<name>/<id>``)."""

    arn_suffix: pulumi.Input[str]
    target_group_arn_suffixes: Sequence[pulumi.Input[str]] = ()




def _members(replication_group_id: str, nodes: int) -> tuple[str, ...]:
    return tuple(f"{replication_group_id}-{i:03d}" for i in range(1, nodes + 1))


@dataclass(frozen=True)
class MonitoringArgs:
    """The identifiers of the resources to watch, as the program's outputs; ``oidc_*`` are the cluster's IRSA
    provider. ``cache_nodes`` is the replication group's node count (its nodes are ``<id>-001``, ``-002``...,
    ElastiCache's naming, so the alarm set is known before the group exists)."""

    environment: str
    region: str
    config: MonitoringConfig
    cluster_name: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    db_instance_id: pulumi.Input[str]
    cache_replication_group_id: pulumi.Input[str]
    cache_nodes: int
    bucket_name: pulumi.Input[str]
    nat_gateway_ids: Sequence[pulumi.Input[str]] = ()
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
    """Alerts topic, alarms, dashboard, Container Insights add-on and budget of one environment."""

    dashboard_url: pulumi.Output[str]
    topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        args.validate()
        super().__init__("trellis:infra:Monitoring", name, None, opts)
        child, cfg = pulumi.ResourceOptions(parent=self), args.config
        topic = self._topic(name, cfg, child)
        lb = args.load_balancer
        targets = pulumi.Output.all(
            args.cluster_name, args.db_instance_id, args.cache_replication_group_id, args.bucket_name,
            pulumi.Output.all(*args.nat_gateway_ids), pulumi.Output.all(*args.db_replica_ids),
            lb.arn_suffix if lb else None, pulumi.Output.all(*(lb.target_group_arn_suffixes if lb else ())),
        ).apply(lambda v: MonitoringTargets(
            args.environment, args.region, v[0], v[1], _members(v[2], args.cache_nodes), v[3], tuple(v[4]),
            tuple(v[5]), v[6], tuple(v[7])))
        self._alarms(name, args, targets, topic.arn, child)
        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard", dashboard_name=f"trellis-{args.environment}",
            dashboard_body=targets.apply(lambda t: json.dumps(dashboard_body(t))), opts=child)
        self._insights(name, args, child)
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
                dimensions=resolved.apply(lambda s: s.dimensions), statistic=spec.statistic,
                comparison_operator=spec.comparison, threshold=spec.threshold, period=th.period_seconds,
                evaluation_periods=th.evaluation_periods, treat_missing_data="notBreaching",
                actions_enabled=args.config.alarms_notify, alarm_actions=[topic_arn], ok_actions=[topic_arn],
                opts=child)

    @staticmethod
    def _insights(name: str, args: MonitoringArgs, child: pulumi.ResourceOptions) -> None:
        """Container Insights and pod logs: the agent's IRSA role, its log groups with this environment's
        retention (created first, so the agent does not create them with none), then the add-on."""
        role = aws.iam.Role(f"{name}-cw-agent", assume_role_policy=irsa_trust_policy(
            args.oidc_provider_arn, args.oidc_issuer, AGENT_NAMESPACE, AGENT_SERVICE_ACCOUNT), opts=child)
        aws.iam.RolePolicyAttachment(f"{name}-cw-agent", role=role.name,
                                     policy_arn="arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy", opts=child)
        groups = [aws.cloudwatch.LogGroup(
            f"{name}-ci-{kind}", name=pulumi.Output.concat("/aws/containerinsights/", args.cluster_name, f"/{kind}"),
            retention_in_days=args.config.log_retention_days, opts=child) for kind in LOG_GROUP_KINDS]
        aws.eks.Addon(f"{name}-{ADDON}", cluster_name=args.cluster_name, addon_name=ADDON,
                      service_account_role_arn=role.arn, resolve_conflicts_on_create="OVERWRITE",
                      resolve_conflicts_on_update="PRESERVE",
                      opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=groups)))

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
