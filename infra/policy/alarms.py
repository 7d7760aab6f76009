"""Guardrail: a prod stack has CloudWatch alarms, and every one of them tells someone.

A stack rule over ``(type, props)`` pairs (the engine's camelCase inputs), pure like those of ``rules.py``
(which can list it in ``STACK_RULES``: this module imports nothing from it); the environment is the stack
Namespace's ``trellis.io/environment`` label. Per layer: the Namespace is in the app layer stack, which is where
``infra/stack.py`` builds the alarms (they need the ALB the app's Ingress creates); the cluster, data and addons
stacks have none and are exempt, as a whole-environment stack is checked as one. No imports of the program or of
pulumi_policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["prod_alarms_have_actions"]

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
Props = Mapping[str, Any]


def _environment(resources: Sequence[tuple[str, Props]]) -> str | None:
    for t, p in resources:
        if t == "kubernetes:core/v1:Namespace":
            return ((p.get("metadata") or {}).get("labels") or {}).get("trellis.io/environment")
    return None


def prod_alarms_have_actions(resources: Sequence[tuple[str, Props]]) -> list[str]:
    """In a prod stack: at least one CloudWatch alarm, and every alarm has its actions enabled with at least
    one alarm action (an SNS topic), so a firing alarm reaches a person."""
    if _environment(resources) != "prod":
        return []
    alarms = [p for t, p in resources if t == ALARM]
    if not alarms:
        return ["prod must have CloudWatch alarms (infra/monitoring.py)"]
    found = []
    for props in alarms:
        name = props.get("name") or props.get("alarmName") or "an alarm"
        if props.get("actionsEnabled") is False:
            found.append(f"prod alarm {name} must have its actions enabled")
        if not props.get("alarmActions"):
            found.append(f"prod alarm {name} must notify an SNS topic (alarmActions)")
    return found
