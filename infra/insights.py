"""Container Insights: the EKS add-on ``amazon-cloudwatch-observability`` of one environment (addons layer).

Owns the add-on, the IRSA role of its CloudWatch agent and the log groups it writes to, created first with the
environment's retention (so the agent does not create them with none). Its metrics (nodes, pods, the
``ContainerInsights`` namespace) feed the node alarm and the EKS widgets of ``infra/monitoring.py``, in every
environment. It ships pod logs only when ``features.logShipping`` is ``container-insights``: the environment has
one log shipper, this add-on or the addons layer's Fluent Bit (``infra/platform/addons.py``), never both; with the
add-on's logs off only its ``performance`` group (metrics as embedded-metric logs) is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.irsa import Oidc, irsa_role

__all__ = ["ADDON", "AGENT_NAMESPACE", "AGENT_SERVICE_ACCOUNT", "ContainerInsights", "ContainerInsightsArgs",
           "log_group_kinds"]

ADDON = "amazon-cloudwatch-observability"
AGENT_NAMESPACE, AGENT_SERVICE_ACCOUNT = "amazon-cloudwatch", "cloudwatch-agent"
AGENT_POLICY = "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"


def log_group_kinds(ships_logs: bool) -> tuple[str, ...]:
    """The groups ``/aws/containerinsights/<cluster>/<kind>`` the add-on writes to."""
    return ("application", "dataplane", "host", "performance") if ships_logs else ("performance",)


@dataclass(frozen=True)
class ContainerInsightsArgs:
    cluster_name: pulumi.Input[str]
    oidc: Oidc
    retention_days: int  # the environment's container log retention (trellis:monitoring.logRetentionDays)
    ships_logs: bool  # features.logShipping is container-insights


class ContainerInsights(pulumi.ComponentResource):
    """The add-on with its agent's role and log groups."""

    def __init__(self, name: str, args: ContainerInsightsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("trellis:infra:ContainerInsights", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = irsa_role(f"{name}-agent", args.oidc, AGENT_NAMESPACE, AGENT_SERVICE_ACCOUNT, None, child,
                         managed=(AGENT_POLICY,))
        groups = [aws.cloudwatch.LogGroup(
            f"{name}-{kind}", name=pulumi.Output.concat("/aws/containerinsights/", args.cluster_name, f"/{kind}"),
            retention_in_days=args.retention_days, opts=child) for kind in log_group_kinds(args.ships_logs)]
        aws.eks.Addon(f"{name}-addon", cluster_name=args.cluster_name, addon_name=ADDON,
                      service_account_role_arn=role.arn, resolve_conflicts_on_create="OVERWRITE",
                      resolve_conflicts_on_update="PRESERVE",
                      configuration_values=json.dumps({"containerLogs": {"enabled": args.ships_logs}}),
                      opts=pulumi.ResourceOptions(parent=self, depends_on=groups))
        self.register_outputs({})
