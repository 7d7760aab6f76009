"""Storage: the S3 bucket behind ``OBJECT_STORE_URL`` (uploads, documents) and the database backups bucket.

pulumi-aws 7 style: ``aws.s3.Bucket`` plus one resource per setting. Each bucket has its own KMS
key, versioning, SSE-KMS default encryption, a public access block, BucketOwnerEnforced ownership,
a TLS-only bucket policy and lifecycle rules (old versions, stale multipart uploads; in the backups
bucket, dumps expire after ``backup_retention_days``). Backups live apart from app data so the app's
role never touches them and the backup job's role can only add dumps. With ``replica_region`` set
each bucket is replicated to a bucket (and key) of its own in that region.
Outputs: ``bucket_name``, ``bucket_arn``, ``key_arn``, ``backup_bucket_name``, ``backup_bucket_arn``,
``backup_key_arn``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.iam import assume_role_policy, policy_document
from infra.specs import StorageConfig

__all__ = ["Storage", "StorageArgs", "BACKUP_PREFIX"]

BACKUP_PREFIX = "backups/"


@dataclass(frozen=True)
class StorageArgs:
    """``protect`` keeps the bucket (and refuses to empty it) on destroy."""

    config: StorageConfig
    region: str
    protect: bool

    def validate(self) -> None:
        if self.config.replica_region == self.region:
            raise ValueError("the replica region must differ from the bucket's region")
        if self.config.problems():
            raise ValueError("; ".join(self.config.problems()))


class Storage(pulumi.ComponentResource):
    """A private, versioned, KMS-encrypted bucket, replicated across regions in prod."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    backup_bucket_name: pulumi.Output[str]
    backup_bucket_arn: pulumi.Output[str]
    backup_key_arn: pulumi.Output[str]

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        args.validate()
        super().__init__("trellis:infra:Storage", name, None, opts)
        key, bucket, versioning = self._bucket(name, None, args)
        self.bucket_name, self.bucket_arn, self.key_arn = bucket.bucket, bucket.arn, key.arn
        cfg = args.config
        aws.s3.BucketLifecycleConfiguration(f"{name}-lifecycle", bucket=bucket.id, rules=[
            {"id": "expire-old-versions", "status": "Enabled", "filter": {"prefix": ""},
             "noncurrent_version_expiration": {"noncurrent_days": cfg.noncurrent_version_days},
             "abort_incomplete_multipart_upload": {"days_after_initiation": 7}},
        ], opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]))
        backup_key, backups, backup_versioning = self._bucket(f"{name}-backups", None, args)
        self.backup_bucket_name, self.backup_bucket_arn = backups.bucket, backups.arn
        self.backup_key_arn = backup_key.arn
        aws.s3.BucketLifecycleConfiguration(f"{name}-backups-lifecycle", bucket=backups.id, rules=[
            {"id": "expire-backups", "status": "Enabled", "filter": {"prefix": BACKUP_PREFIX},
             "expiration": {"days": cfg.backup_retention_days},
             "noncurrent_version_expiration": {"noncurrent_days": 1},
             "abort_incomplete_multipart_upload": {"days_after_initiation": 1}},
        ], opts=pulumi.ResourceOptions(parent=self, depends_on=[backup_versioning]))
        if cfg.replica_region:  # both buckets: a region outage must not take the dumps with it
            self._replication(name, args, cfg.replica_region, bucket, key, versioning)
            self._replication(f"{name}-backups", args, cfg.replica_region, backups, backup_key, backup_versioning)
        self.register_outputs({"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn,
                               "backup_bucket_name": self.backup_bucket_name})

    def _bucket(self, name: str, region: str | None,
                args: StorageArgs) -> tuple[aws.kms.Key, aws.s3.Bucket, aws.s3.BucketVersioning]:
        """One locked-down bucket; ``region`` None means the provider's region."""
        opts = pulumi.ResourceOptions(parent=self)
        key = aws.kms.Key(f"{name}-key", description=f"{name} objects", enable_key_rotation=True,
                          deletion_window_in_days=30, region=region, opts=opts)
        bucket = aws.s3.Bucket(f"{name}-bucket", force_destroy=not args.protect, region=region,
                               opts=pulumi.ResourceOptions(parent=self, protect=args.protect))
        versioning = aws.s3.BucketVersioning(f"{name}-versioning", bucket=bucket.id, region=region,
                                             versioning_configuration={"status": "Enabled"}, opts=opts)
        aws.s3.BucketServerSideEncryptionConfiguration(f"{name}-sse", bucket=bucket.id, region=region, rules=[{
            "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key.arn},
            "bucket_key_enabled": True,
        }], opts=opts)
        aws.s3.BucketPublicAccessBlock(f"{name}-public-access", bucket=bucket.id, region=region,
                                       block_public_acls=True, block_public_policy=True, ignore_public_acls=True,
                                       restrict_public_buckets=True, opts=opts)
        aws.s3.BucketOwnershipControls(f"{name}-ownership", bucket=bucket.id, region=region,
                                       rule={"object_ownership": "BucketOwnerEnforced"}, opts=opts)
        aws.s3.BucketPolicy(f"{name}-tls-only", bucket=bucket.id, region=region, policy=bucket.arn.apply(
            lambda arn: policy_document([{
                "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }])), opts=opts)
        return key, bucket, versioning

    def _replication(self, name: str, args: StorageArgs, region: str, source: aws.s3.Bucket,
                     source_key: aws.kms.Key, source_versioning: aws.s3.BucketVersioning) -> None:
        replica_key, replica, replica_versioning = self._bucket(f"{name}-replica", region, args)
        opts = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(f"{name}-replication", assume_role_policy=assume_role_policy("s3.amazonaws.com"),
                            opts=opts)
        aws.iam.RolePolicy(f"{name}-replication", role=role.id, policy=pulumi.Output.all(
            source.arn, replica.arn, source_key.arn, replica_key.arn,
        ).apply(lambda a: policy_document([
            {"Effect": "Allow", "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"], "Resource": a[0]},
            {"Effect": "Allow", "Action": ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl",
                                           "s3:GetObjectVersionTagging"], "Resource": f"{a[0]}/*"},
            {"Effect": "Allow", "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
             "Resource": f"{a[1]}/*"},
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": a[2]},
            {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": a[3]},
        ])), opts=opts)
        aws.s3.BucketReplicationConfig(f"{name}-replication", bucket=source.id, role=role.arn, rules=[{
            "id": "all-objects", "status": "Enabled", "filter": {"prefix": ""},
            "delete_marker_replication": {"status": "Enabled"},
            "source_selection_criteria": {"sse_kms_encrypted_objects": {"status": "Enabled"}},
            "destination": {"bucket": replica.arn, "storage_class": "STANDARD_IA",
                            "encryption_configuration": {"replica_kms_key_id": replica_key.arn}},
        }], opts=pulumi.ResourceOptions(parent=self, depends_on=[source_versioning, replica_versioning]))
