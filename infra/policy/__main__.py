"""The CrossGuard policy pack: ``pulumi preview --policy-pack infra/policy``.

Wraps the plain rules of ``rules.py``; every rule is mandatory. Constructing ``PolicyPack``
starts the policy server and blocks, which is why it happens only in this file.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pulumi_policy import (  # noqa: E402
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.policy.rules import RESOURCE_RULES, STACK_RULES, ResourceRule, StackRule  # noqa: E402


def _resource_policy(name: str, rule: ResourceRule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        for message in rule(args.resource_type, args.props):
            report(message, None)

    return ResourceValidationPolicy(name=name, description=(rule.__doc__ or name).strip(), validate=validate)


def _stack_policy(name: str, rule: StackRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        for message in rule([(r.resource_type, r.props) for r in args.resources]):
            report(message, None)

    return StackValidationPolicy(name=name, description=(rule.__doc__ or name).strip(), validate=validate)


PolicyPack(
    name="trellis-guardrails",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[_resource_policy(n, r) for n, r in RESOURCE_RULES.items()]
    + [_stack_policy(n, r) for n, r in STACK_RULES.items()],
)
