"""Configuration handed to the app processes: one ConfigMap (plain settings) and one Secret.

The Secret holds ``DATABASE_URL``, ``REDIS_URL``, a generated ``ADMIN_TOKEN``, a generated ``SECRET_KEY``
(seals tool credentials at rest; every process must share it) and, when
configured, ``OPENAI_API_KEY`` (plus S3 credentials in local mode). Its values are
secret Outputs end to end; nothing here is exported. Returns the ConfigMap data so the
workloads can hash it into their pod templates.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra.platform.pods import CONFIG_NAME, SECRET_NAME, TRELLIS_HOME
from infra.platform.spec import API_PORT, METRICS_PORT, WORKER_HEALTH_PORT, PlatformArgs, labels

__all__ = ["app_settings", "create_app_config"]


def app_settings(args: PlatformArgs) -> dict[str, Any]:
    """The non-secret environment of the API, worker and jobs (ARCHITECTURE.md settings)."""
    cfg = args.config
    data: dict[str, Any] = {
        "PORT": str(API_PORT),
        "METRICS_PORT": str(METRICS_PORT),
        "RATE_LIMIT_PER_SECOND": f"{cfg.api.rate_limit_per_second:g}",
        "RATE_LIMIT_BURST": str(cfg.api.rate_limit_burst),
        # Exactly one proxy (the ALB or the ingress controller) appends the client's address to X-Forwarded-For;
        # the app takes that last entry, so a client-supplied header cannot pose as another address.
        "TRUSTED_PROXY_HOPS": "1",
        "TRELLIS_HOME": TRELLIS_HOME,
        "VECTOR_STORE": cfg.vector_store,
        "HUEY_NAME": cfg.worker.huey_name,
        "WORKER_DRAIN_SECONDS": str(cfg.worker.drain_seconds),
        "WORKER_HEALTH_PORT": str(WORKER_HEALTH_PORT),
        "WORKER_HEALTH_HOST": "0.0.0.0",  # probes and Prometheus come from outside the pod
        "OBJECT_STORE_URL": args.object_store_url,
        **args.backends.object_store_env,
    }
    if cfg.openai_base_url:
        data["OPENAI_BASE_URL"] = cfg.openai_base_url
    return data


def create_app_config(name: str, args: PlatformArgs, opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
    """Create the ConfigMap and Secret in the namespace; returns them for ``depends_on``."""
    cfg = args.config
    meta = {"namespace": cfg.namespace, "labels": labels(cfg.environment, "config")}
    config_map = k8s.core.v1.ConfigMap(f"{name}-config", metadata={**meta, "name": CONFIG_NAME},
                                       data=app_settings(args), opts=opts)
    admin = random.RandomPassword(f"{name}-admin-token", length=40, special=False, opts=opts)
    sealing = random.RandomPassword(f"{name}-secret-key", length=48, special=False, opts=opts)
    secret_data: dict[str, pulumi.Input[str]] = {
        "DATABASE_URL": args.backends.database_url,
        "REDIS_URL": args.backends.redis_url,
        "ADMIN_TOKEN": admin.result,
        "SECRET_KEY": sealing.result,
        **args.backends.object_store_secret_env,
    }
    if cfg.secrets.openai_api_key is not None:
        secret_data["OPENAI_API_KEY"] = cfg.secrets.openai_api_key
    secret = k8s.core.v1.Secret(
        f"{name}-env", metadata={**meta, "name": SECRET_NAME}, type="Opaque",
        string_data={k: pulumi.Output.secret(v) for k, v in secret_data.items()}, opts=opts,
    )
    return [config_map, secret]
