"""Jobs: the schema migration that gates every rollout, and the nightly database backup.

- Migration: a Job named after the image tag runs ``flask --app wsgi db-upgrade``
  (alembic upgrade head, idempotent). Pulumi waits for Jobs to complete, and the
  Deployments depend on it, so pods with new code start only after the schema is ready;
  a failed migration fails the update and leaves the old pods serving.
- Backup: a CronJob running ``pg_dump`` (custom format) into an emptyDir, then copying the
  dump to ``s3://<backups bucket>/backups/<env>/`` with the AWS CLI (its own write-only IRSA role on
  AWS; the app bucket in local mode). The backups bucket's lifecycle expires old dumps.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.platform.pods import SECRET_NAME, container, pod_security, scratch_volumes
from infra.platform.spec import JOB_RESOURCES, PlatformArgs, labels, service_account
from infra.platform.waivers import waivers
from infra.storage import BACKUP_PREFIX

__all__ = ["create_migration", "create_backup", "PG_DUMP_IMAGE", "AWS_CLI_IMAGE", "MIGRATE_COMMAND"]

MIGRATE_COMMAND = ("flask", "--app", "wsgi", "db-upgrade")
PG_DUMP_IMAGE = "postgres:{major}-bookworm"  # pg_dump must be >= the server's major version: follow the engine
AWS_CLI_IMAGE = "amazon/aws-cli:2.22.35"
BACKUP_SCHEDULE = "17 3 * * *"


def migration_name(image_tag: str) -> str:
    """One Job per release: a new tag creates a new Job (Job templates are immutable)."""
    return "trellis-migrate-" + hashlib.sha256(image_tag.encode()).hexdigest()[:10]


def create_migration(name: str, args: PlatformArgs, opts: pulumi.ResourceOptions) -> k8s.batch.v1.Job:
    cfg = args.config
    volumes, mounts = scratch_volumes()
    return k8s.batch.v1.Job(f"{name}-migrate", metadata={
        "name": migration_name(cfg.image_tag), "namespace": cfg.namespace, "labels": labels(cfg.environment, "migrate"),
        "annotations": args.app_waivers,
    }, spec={
        "backoffLimit": 2,
        "activeDeadlineSeconds": 900,
        "template": {"metadata": {"labels": labels(cfg.environment, "migrate")}, "spec": {
            "restartPolicy": "Never", "serviceAccountName": service_account("migrate"),
            "automountServiceAccountToken": False,
            "securityContext": pod_security(), "volumes": volumes,
            "containers": [container("migrate", args.image, MIGRATE_COMMAND, JOB_RESOURCES, volumeMounts=mounts)],
        }},
    }, opts=opts)


def _backup_pod(args: PlatformArgs) -> dict[str, Any]:
    cfg = args.config
    target = f"s3://$(BUCKET)/{BACKUP_PREFIX}{cfg.environment}"
    dump = container(
        "pg-dump", PG_DUMP_IMAGE.format(major=cfg.database.engine_version),
        ["sh", "-c", 'pg_dump --format=custom --no-owner --file=/backup/trellis.dump "$DATABASE_URL"'],
        JOB_RESOURCES, app_env=False,
        env=[{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": SECRET_NAME, "key": "DATABASE_URL"}}}],
        volumeMounts=[{"name": "backup", "mountPath": "/backup"}, {"name": "tmp", "mountPath": "/tmp"}],
    )
    upload_env: list[dict[str, Any]] = [{"name": "HOME", "value": "/tmp"},
                                        {"name": "BUCKET", "value": args.backends.backup_bucket or
                                         args.backends.bucket}]
    upload_env += [{"name": k, "value": v} for k, v in args.backends.object_store_env.items()]
    upload_env += [{"name": k, "valueFrom": {"secretKeyRef": {"name": SECRET_NAME, "key": k}}}
                   for k in args.backends.object_store_secret_env]
    upload = container(
        "upload", AWS_CLI_IMAGE, ["sh", "-c", f'aws s3 cp /backup/trellis.dump "{target}/$(date -u +%Y%m%dT%H%M%SZ)'
                                              f'.dump" --no-progress'],
        JOB_RESOURCES, app_env=False, env=upload_env,
        volumeMounts=[{"name": "backup", "mountPath": "/backup", "readOnly": True},
                      {"name": "tmp", "mountPath": "/tmp"}],
    )
    return {
        "restartPolicy": "OnFailure", "serviceAccountName": service_account("backup"),
        "automountServiceAccountToken": False,
        "securityContext": pod_security(),
        "initContainers": [dump], "containers": [upload],
        "volumes": [{"name": "backup", "emptyDir": {"sizeLimit": "20Gi"}}, {"name": "tmp", "emptyDir": {}}],
    }


def create_backup(name: str, args: PlatformArgs, opts: pulumi.ResourceOptions) -> k8s.batch.v1.CronJob:
    cfg = args.config
    return k8s.batch.v1.CronJob(f"{name}-backup", metadata={
        "name": "trellis-backup", "namespace": cfg.namespace, "labels": labels(cfg.environment, "backup"),
        "annotations": waivers("CKV_K8S_35", "CKV_K8S_15", "CKV_K8S_43"),  # third-party pg_dump and aws-cli images
    }, spec={
        "schedule": BACKUP_SCHEDULE, "concurrencyPolicy": "Forbid", "startingDeadlineSeconds": 3600,
        "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
        "jobTemplate": {"spec": {"backoffLimit": 2, "activeDeadlineSeconds": 3 * 3600, "template": {
            "metadata": {"labels": labels(cfg.environment, "backup")}, "spec": _backup_pod(args),
        }}},
    }, opts=opts)
