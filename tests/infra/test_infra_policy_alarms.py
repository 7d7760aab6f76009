"""The prod-alarms guardrail (infra/policy/alarms.py), called directly with passing and failing stacks."""

from __future__ import annotations

from infra.policy.alarms import ALARM, prod_alarms_have_actions

TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"


def namespace(env: str) -> tuple[str, dict]:
    return ("kubernetes:core/v1:Namespace", {"metadata": {"labels": {"trellis.io/environment": env}}})


def alarm(name: str, **props: object) -> tuple[str, dict]:
    return (ALARM, {"name": name, "actionsEnabled": True, "alarmActions": [TOPIC], **props})


def test_prod_with_notifying_alarms_passes():
    assert prod_alarms_have_actions([namespace("prod"), alarm("a"), alarm("b")]) == []


def test_prod_without_alarms_fails():
    assert prod_alarms_have_actions([namespace("prod")]) == ["prod must have CloudWatch alarms (infra/monitoring.py)"]


def test_prod_alarm_without_action_or_with_actions_off_fails():
    found = prod_alarms_have_actions([namespace("prod"), alarm("quiet", actionsEnabled=False),
                                      alarm("nowhere", alarmActions=[])])
    assert found == ["prod alarm quiet must have its actions enabled",
                     "prod alarm nowhere must notify an SNS topic (alarmActions)"]


def test_dev_may_keep_alarms_quiet():
    assert prod_alarms_have_actions([namespace("dev"), alarm("quiet", actionsEnabled=False)]) == []
    assert prod_alarms_have_actions([namespace("dev")]) == []


def test_the_monitoring_component_satisfies_the_rule():
    from tests.infra.test_infra_monitoring import build

    prod = build("prod")
    resources = [namespace("prod"), *((m.type, m.inputs) for m in prod.made)]
    assert prod_alarms_have_actions(resources) == []
