"""In-cluster data stores for ``local`` mode: PostgreSQL (with pgvector), Redis and MinIO.

For trying Trellis on an existing cluster (kind, minikube, on-prem) without AWS. Each
store is a single-replica StatefulSet with a PersistentVolumeClaim, a Service, probes,
limits and the same non-root hardening as the app; credentials are generated. A Job
creates the bucket. NetworkPolicies admit only the Trellis components that use each
store. Not highly available, by design: use the ``aws`` mode for that.
Outputs: ``backends`` (a ``Backends`` for ``Platform``) and ``pods`` (for the quota).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra.config import StackConfig
from infra.platform.addons import KEDA_NAMESPACE
from infra.platform.netpol import components_selector, namespace_peer
from infra.platform.pods import container, pod_security
from infra.platform.spec import JOB_RESOURCES, Backends, labels, selector
from infra.platform.waivers import waivers
from infra.specs import ContainerResources

__all__ = ["InClusterStores", "STORE_IMAGES", "STORE_RESOURCES"]

STORE_IMAGES = {
    "postgres": "pgvector/pgvector:0.8.0-pg16",
    "redis": "redis:7.4.2-alpine",
    "minio": "minio/minio:RELEASE.2024-12-18T13-15-44Z",
    "aws-cli": "amazon/aws-cli:2.22.35",
}
STORE_RESOURCES = {
    "postgres": ContainerResources("250m", "512Mi", "1", "1Gi"),
    "redis": ContainerResources("100m", "128Mi", "500m", "512Mi"),
    "minio": ContainerResources("100m", "256Mi", "500m", "1Gi"),
}
STORE_SECRET = "trellis-stores"
BUCKET = "trellis"
_UID = 999  # the postgres and redis images' own non-root user


def _secret_env(*keys: str) -> list[dict[str, Any]]:
    return [{"name": k, "valueFrom": {"secretKeyRef": {"name": STORE_SECRET, "key": k}}} for k in keys]


def _exec(command: str, period: int = 10) -> dict[str, Any]:
    return {"exec": {"command": ["sh", "-c", command]}, "periodSeconds": period, "timeoutSeconds": 5,
            "failureThreshold": 3}


class InClusterStores(pulumi.ComponentResource):
    """Postgres, Redis and MinIO in the environment's namespace (local mode only)."""

    backends: Backends
    pods: tuple[ContainerResources, ...]

    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        if cfg.is_prod:
            raise ValueError("in-cluster data stores are for local and dev stacks, never prod")
        super().__init__("trellis:infra:InClusterStores", name, None, opts)
        self._cfg, child = cfg, pulumi.ResourceOptions(parent=self)
        pw = {key: random.RandomPassword(f"{name}-{key}", length=32, special=False, opts=child).result
              for key in ("postgres", "redis", "minio")}
        secret = k8s.core.v1.Secret(f"{name}-secret", metadata=self._meta(STORE_SECRET, "stores"), type="Opaque",
                                    string_data={"POSTGRES_PASSWORD": pw["postgres"], "REDIS_PASSWORD": pw["redis"],
                                                 "AWS_ACCESS_KEY_ID": "trellis", "AWS_SECRET_ACCESS_KEY": pw["minio"]},
                                    opts=child)
        after = pulumi.ResourceOptions(parent=self, depends_on=[secret])
        self._store(name, "postgres", 5432, self._postgres(), after)
        self._store(name, "redis", 6379, self._redis(), after)
        minio = self._store(name, "minio", 9000, self._minio(), after)
        self._bucket_job(name, pulumi.ResourceOptions(parent=self, depends_on=[minio]))
        self._policies(name, child)
        self.pods = tuple(STORE_RESOURCES.values())
        ns, env = cfg.namespace, cfg.environment
        self.backends = Backends(
            database_url=pulumi.Output.secret(pw["postgres"].apply(
                lambda p: f"postgresql://trellis:{p}@trellis-postgres.{ns}.svc:5432/trellis")),
            redis_url=pulumi.Output.secret(pw["redis"].apply(lambda p: f"redis://:{p}@trellis-redis.{ns}.svc:6379/0")),
            redis_address=f"trellis-redis.{ns}.svc:6379", redis_password=pw["redis"], redis_tls=False, bucket=BUCKET,
            database_peers=({"podSelector": {"matchLabels": selector(env, "postgres")}},),
            redis_peers=({"podSelector": {"matchLabels": selector(env, "redis")}},),
            object_store_peers=({"podSelector": {"matchLabels": selector(env, "minio")}},), object_store_port=9000,
            object_store_env={"AWS_ENDPOINT_URL_S3": f"http://trellis-minio.{ns}.svc:9000", "AWS_REGION": "us-east-1"},
            object_store_secret_env={"AWS_ACCESS_KEY_ID": pulumi.Output.secret("trellis"),
                                     "AWS_SECRET_ACCESS_KEY": pw["minio"]},
        )
        self.register_outputs({})

    def _meta(self, name: str, component: str, *skips: str) -> dict[str, Any]:
        meta = {"name": name, "namespace": self._cfg.namespace, "labels": labels(self._cfg.environment, component)}
        return {**meta, "annotations": waivers(*skips)} if skips else meta

    def _postgres(self) -> dict[str, Any]:
        ready = "pg_isready -U trellis -d trellis -h 127.0.0.1"
        return container(
            "postgres", STORE_IMAGES["postgres"], ["docker-entrypoint.sh", "postgres"], STORE_RESOURCES["postgres"],
            app_env=False, ports=[{"name": "postgres", "containerPort": 5432}],
            env=[{"name": "POSTGRES_USER", "value": "trellis"}, {"name": "POSTGRES_DB", "value": "trellis"},
                 {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"}, *_secret_env("POSTGRES_PASSWORD")],
            volumeMounts=[{"name": "data", "mountPath": "/var/lib/postgresql/data"},
                          {"name": "run", "mountPath": "/var/run/postgresql"}, {"name": "tmp", "mountPath": "/tmp"}],
            livenessProbe=_exec(ready, 20), readinessProbe=_exec(ready, 5),
        )

    def _redis(self) -> dict[str, Any]:
        return container(
            "redis", STORE_IMAGES["redis"],
            ["sh", "-c", 'exec redis-server --requirepass "$REDIS_PASSWORD" --appendonly yes --dir /data '
                         "--maxmemory-policy noeviction"],
            STORE_RESOURCES["redis"], app_env=False, ports=[{"name": "redis", "containerPort": 6379}],
            env=_secret_env("REDIS_PASSWORD"),
            volumeMounts=[{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}],
            livenessProbe={"tcpSocket": {"port": 6379}, "periodSeconds": 20},
            readinessProbe=_exec('redis-cli -a "$REDIS_PASSWORD" --no-auth-warning ping | grep -q PONG', 5),
        )

    def _minio(self) -> dict[str, Any]:
        return container(
            "minio", STORE_IMAGES["minio"], ["minio", "server", "/data", "--address", ":9000", "--certs-dir",
                                             "/tmp/certs"],
            STORE_RESOURCES["minio"], app_env=False, ports=[{"name": "minio", "containerPort": 9000}],
            env=[{"name": "MINIO_ROOT_USER", "value": "trellis"},
                 {"name": "MINIO_ROOT_PASSWORD", "valueFrom": {"secretKeyRef": {"name": STORE_SECRET,
                                                                                 "key": "AWS_SECRET_ACCESS_KEY"}}}],
            volumeMounts=[{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}],
            livenessProbe={"httpGet": {"path": "/minio/health/live", "port": 9000}, "periodSeconds": 20},
            readinessProbe={"httpGet": {"path": "/minio/health/ready", "port": 9000}, "periodSeconds": 5},
        )

    def _store(self, name: str, store: str, port: int, body: dict[str, Any],
               opts: pulumi.ResourceOptions) -> k8s.apps.v1.StatefulSet:
        match, full = selector(self._cfg.environment, store), f"trellis-{store}"
        k8s.core.v1.Service(f"{name}-{store}", metadata=self._meta(full, store), spec={
            "selector": match, "ports": [{"name": store, "port": port, "targetPort": store}]}, opts=opts)
        uid = _UID if store != "minio" else 10001
        skips = ("CKV_K8S_35", "CKV_K8S_15", "CKV_K8S_43", *(("CKV_K8S_40",) if uid == _UID else ()))
        return k8s.apps.v1.StatefulSet(f"{name}-{store}", metadata=self._meta(full, store, *skips), spec={
            "serviceName": full, "replicas": 1, "selector": {"matchLabels": match},
            "template": {"metadata": {"labels": labels(self._cfg.environment, store)}, "spec": {
                "automountServiceAccountToken": False, "securityContext": pod_security(uid),
                "containers": [body], "volumes": [{"name": "run", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
            }},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}}],
        }, opts=opts)

    def _bucket_job(self, name: str, opts: pulumi.ResourceOptions) -> None:
        env = [{"name": "HOME", "value": "/tmp"},
               {"name": "AWS_ENDPOINT_URL_S3", "value": f"http://trellis-minio.{self._cfg.namespace}.svc:9000"},
               {"name": "AWS_REGION", "value": "us-east-1"},
               *_secret_env("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")]
        # Idempotent: a re-run finds the bucket and succeeds.
        script = f"aws s3api head-bucket --bucket {BUCKET} || aws s3 mb s3://{BUCKET}"
        k8s.batch.v1.Job(f"{name}-bucket", metadata=self._meta("trellis-minio-bucket", "minio-init", "CKV_K8S_35",
                                                                "CKV_K8S_15", "CKV_K8S_43"), spec={
            "backoffLimit": 6,
            "template": {"metadata": {"labels": labels(self._cfg.environment, "minio-init")}, "spec": {
                "restartPolicy": "OnFailure", "automountServiceAccountToken": False, "securityContext": pod_security(),
                "containers": [container("bucket", STORE_IMAGES["aws-cli"], ["sh", "-c", script], JOB_RESOURCES,
                                         app_env=False, env=env,
                                         volumeMounts=[{"name": "tmp", "mountPath": "/tmp"}])],
                "volumes": [{"name": "tmp", "emptyDir": {}}],
            }},
        }, opts=opts)

    def _policies(self, name: str, opts: pulumi.ResourceOptions) -> None:
        env = self._cfg.environment
        clients = {
            "postgres": (5432, [{"podSelector": components_selector(env, ["api", "worker", "migrate", "backup"])}]),
            "redis": (6379, [{"podSelector": components_selector(env, ["api", "worker"])},
                             namespace_peer(KEDA_NAMESPACE)]),
            "minio": (9000, [{"podSelector": components_selector(env, ["api", "worker", "backup", "minio-init"])}]),
        }
        for store, (port, peers) in clients.items():
            k8s.networking.v1.NetworkPolicy(f"{name}-{store}-ingress", metadata=self._meta(
                f"trellis-{store}-ingress", "network"), spec={
                "podSelector": {"matchLabels": selector(env, store)}, "policyTypes": ["Ingress"],
                "ingress": [{"from": peers, "ports": [{"protocol": "TCP", "port": port}]}]}, opts=opts)
        k8s.networking.v1.NetworkPolicy(f"{name}-minio-init-egress", metadata=self._meta(
            "trellis-minio-init-egress", "network"), spec={
            "podSelector": {"matchLabels": selector(env, "minio-init")}, "policyTypes": ["Egress"],
            "egress": [{"to": [{"podSelector": {"matchLabels": selector(env, "minio")}}],
                        "ports": [{"protocol": "TCP", "port": 9000}]}]}, opts=opts)
