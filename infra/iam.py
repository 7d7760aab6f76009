"""IAM policy documents as plain data: the JSON builders shared by the components.

Pure functions, no resources. Documents are built in Python (``json.dumps``) rather than
through ``aws.iam.get_policy_document`` so no provider call is needed to render them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi

__all__ = [
    "assume_role_policy", "backup_writer_policy", "bucket_access_policy", "irsa_trust_policy", "policy_document",
]


def policy_document(statements: Sequence[dict[str, Any]]) -> str:
    """A version-2012-10-17 policy with ``statements`` (already-resolved values)."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def assume_role_policy(service: str) -> str:
    """Trust policy letting an AWS service principal (e.g. ``eks.amazonaws.com``) assume the role."""
    return policy_document([{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}])


def irsa_trust_policy(
    provider_arn: pulumi.Input[str], issuer: pulumi.Input[str], namespace: str, service_account: str
) -> pulumi.Output[str]:
    """Trust policy for exactly one Kubernetes service account through the cluster's OIDC provider.

    ``issuer`` is the OIDC issuer URL (with or without ``https://``).
    """

    def render(values: list[str]) -> str:
        arn, url = values
        host = url.removeprefix("https://")
        return policy_document([{
            "Effect": "Allow",
            "Principal": {"Federated": arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                f"{host}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                f"{host}:aud": "sts.amazonaws.com",
            }},
        }])

    return pulumi.Output.all(provider_arn, issuer).apply(render)


def bucket_access_policy(bucket_arn: str, key_arn: str) -> str:
    """Least-privilege S3 access to one bucket (and its KMS key) for the app's IRSA role."""
    return policy_document([
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": bucket_arn},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                                       "s3:AbortMultipartUpload"], "Resource": f"{bucket_arn}/*"},
        {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": key_arn},
    ])


def backup_writer_policy(bucket_arn: str, key_arn: str, prefix: str) -> str:
    """Write-only access to ``prefix`` of the backups bucket: a compromised backup pod can add dumps, never read
    or delete them (object versioning and the lifecycle rule handle expiry)."""
    return policy_document([
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
         "Resource": f"{bucket_arn}/{prefix}*"},
        {"Effect": "Allow", "Action": ["kms:GenerateDataKey"], "Resource": key_arn},
    ])
