"""Registry: the ECR repository the Trellis image is pushed to (aws mode, when no repository is configured).

Owns one repository with immutable tags, scan-on-push and KMS encryption.
Outputs: ``repository_url``, ``repository_name``.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

__all__ = ["Registry"]


class Registry(pulumi.ComponentResource):
    """An ECR repository; ``protect`` keeps released images on destroy."""

    repository_url: pulumi.Output[str]
    repository_name: pulumi.Output[str]

    def __init__(self, name: str, protect: bool, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("trellis:infra:Registry", name, None, opts)
        repo = aws.ecr.Repository(
            f"{name}-repo", image_tag_mutability="IMMUTABLE", force_delete=not protect,
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "KMS"}],
            opts=pulumi.ResourceOptions(parent=self, protect=protect),
        )
        self.repository_url, self.repository_name = repo.repository_url, repo.name
        self.register_outputs({"repository_url": self.repository_url})
