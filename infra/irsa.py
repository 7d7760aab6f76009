"""IRSA roles: one IAM role per Kubernetes service account, trusted only through the cluster's OIDC provider.

``irsa_role`` creates the role and its inline policy (and managed-policy attachments) as children of
the calling component. Every workload and add-on that talks to AWS gets its own role this way, so
no two share permissions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.iam import irsa_trust_policy

__all__ = ["Oidc", "irsa_role"]


@dataclass(frozen=True)
class Oidc:
    """The cluster's OIDC provider: its ARN and issuer URL."""

    provider_arn: pulumi.Input[str]
    issuer: pulumi.Input[str]


def irsa_role(name: str, oidc: Oidc, namespace: str, service_account: str, policy: pulumi.Input[str] | None,
              opts: pulumi.ResourceOptions, managed: Sequence[str] = ()) -> aws.iam.Role:
    """A role only ``system:serviceaccount:<namespace>:<service_account>`` can assume, with ``policy`` inline."""
    role = aws.iam.Role(f"{name}-role", description=f"{namespace}/{service_account} (IRSA)",
                        assume_role_policy=irsa_trust_policy(oidc.provider_arn, oidc.issuer, namespace,
                                                             service_account), opts=opts)
    if policy is not None:
        aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=policy, opts=opts)
    for i, arn in enumerate(managed):
        aws.iam.RolePolicyAttachment(f"{name}-managed-{i}", role=role.name, policy_arn=arn, opts=opts)
    return role
