"""Identity: the ServiceAccount the app pods run as, and (on AWS) its IRSA role.

The IAM role trusts only ``system:serviceaccount:<namespace>:trellis`` through the
cluster's OIDC provider and may only read/write its one bucket (and use that bucket's
KMS key). Without ``Irsa`` (local mode) the ServiceAccount has no cloud identity.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.iam import bucket_access_policy, irsa_trust_policy
from infra.platform.pods import SERVICE_ACCOUNT
from infra.platform.spec import Irsa, PlatformArgs, labels

__all__ = ["create_identity"]


def create_identity(name: str, args: PlatformArgs, opts: pulumi.ResourceOptions) -> k8s.core.v1.ServiceAccount:
    """Create the ServiceAccount (and IRSA role + policy when ``args.irsa`` is set)."""
    cfg = args.config
    annotations: dict[str, pulumi.Input[str]] = {}
    if args.irsa is not None:
        annotations["eks.amazonaws.com/role-arn"] = _irsa_role(name, cfg.namespace, args.irsa, opts).arn
    return k8s.core.v1.ServiceAccount(f"{name}-sa", metadata={
        "name": SERVICE_ACCOUNT, "namespace": cfg.namespace, "labels": labels(cfg.environment, "identity"),
        "annotations": annotations,
    }, automount_service_account_token=False, opts=opts)


def _irsa_role(name: str, namespace: str, irsa: Irsa, opts: pulumi.ResourceOptions) -> aws.iam.Role:
    aws_opts = pulumi.ResourceOptions(parent=opts.parent)
    role = aws.iam.Role(f"{name}-app-role", description=f"Trellis pods in {namespace}",
                        assume_role_policy=irsa_trust_policy(irsa.oidc_provider_arn, irsa.oidc_issuer,
                                                             namespace, SERVICE_ACCOUNT),
                        opts=aws_opts)
    aws.iam.RolePolicy(f"{name}-app-bucket", role=role.id, policy=pulumi.Output.all(
        irsa.bucket_arn, irsa.key_arn).apply(lambda a: bucket_access_policy(a[0], a[1])), opts=aws_opts)
    return role
