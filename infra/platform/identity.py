"""Identity: one ServiceAccount per workload, and (on AWS) one IRSA role each, least privilege.

- ``trellis-api`` and ``trellis-worker``: read, write and delete objects in the app bucket (uploads,
  documents, generated files) with its KMS key; nothing in the backups bucket.
- ``trellis-backup``: put dumps under ``backups/<env>/`` of the backups bucket; no read, no delete.
- ``trellis-migrate``: no AWS identity at all (it only talks to the database).
Each role trusts exactly one service account through the cluster's OIDC provider. Without ``Irsa``
(local mode) the service accounts have no cloud identity.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.iam import backup_writer_policy, bucket_access_policy
from infra.irsa import irsa_role
from infra.platform.spec import Irsa, PlatformArgs, labels, service_account
from infra.storage import BACKUP_PREFIX

__all__ = ["WORKLOADS", "create_identity"]

WORKLOADS = ("api", "worker", "backup", "migrate")


def _policy(component: str, irsa: Irsa, environment: str) -> pulumi.Output[str] | None:
    if component in ("api", "worker"):
        return pulumi.Output.all(irsa.bucket_arn, irsa.key_arn).apply(lambda a: bucket_access_policy(a[0], a[1]))
    if component == "backup":
        return pulumi.Output.all(irsa.backup_bucket_arn, irsa.backup_key_arn).apply(
            lambda a: backup_writer_policy(a[0], a[1], f"{BACKUP_PREFIX}{environment}/"))
    return None


def create_identity(name: str, args: PlatformArgs, opts: pulumi.ResourceOptions) -> list[k8s.core.v1.ServiceAccount]:
    """Create the workloads' ServiceAccounts (and their IRSA roles when ``args.irsa`` is set)."""
    cfg = args.config
    accounts = []
    for component in WORKLOADS:
        annotations: dict[str, pulumi.Input[str]] = {}
        policy = _policy(component, args.irsa, cfg.environment) if args.irsa else None
        if args.irsa is not None and policy is not None:
            role: aws.iam.Role = irsa_role(f"{name}-{component}", args.irsa.oidc, cfg.namespace,
                                           service_account(component), policy,
                                           pulumi.ResourceOptions(parent=opts.parent))
            annotations["eks.amazonaws.com/role-arn"] = role.arn
        accounts.append(k8s.core.v1.ServiceAccount(f"{name}-sa-{component}", metadata={
            "name": service_account(component), "namespace": cfg.namespace,
            "labels": labels(cfg.environment, component), "annotations": annotations,
        }, automount_service_account_token=False, opts=opts))
    return accounts
