"""Typed stack configuration: the only place that knows the shape of ``Pulumi.<stack>.yaml``.

``load_config`` reads the ``trellis:*`` keys once and returns a frozen ``StackConfig``;
everything else receives that object (or a part of it) as an argument. Unknown keys,
wrong types and unsafe combinations (for example a prod stack without Multi-AZ) raise
``ConfigError`` before any resource is created. Secrets are read only through Pulumi's
secret config and stay ``pulumi.Output`` values marked secret.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pulumi
import yaml

from infra.layer import Layer
from infra.monitoring_config import MonitoringConfig, monitoring_config
from infra.specs import (
    ApiConfig,
    CacheConfig,
    ClusterConfig,
    DatabaseConfig,
    FeaturesConfig,
    NetworkConfig,
    StorageConfig,
    WorkerConfig,
)

__all__ = ["ConfigError", "Mode", "StackConfig", "StackSecrets", "load_config", "from_mapping"]


class ConfigError(ValueError):
    """The stack configuration is malformed or unsafe; raised before anything is created."""


class Mode(StrEnum):
    """Where the stack runs: ``aws`` builds the whole system on EKS, ``local`` targets an existing cluster."""

    AWS = "aws"
    LOCAL = "local"


@dataclass(frozen=True)
class StackSecrets:
    """Secret inputs. Values are secret ``pulumi.Output``s; ``None`` means not configured."""

    openai_api_key: pulumi.Output[str] | None = None


@dataclass(frozen=True)
class StackConfig:
    """Everything one stack needs. Built by ``load_config`` or directly by tests."""

    environment: str
    mode: Mode = Mode.AWS
    region: str = "us-east-1"
    domain: str = "trellis.localhost"
    image_repository: str | None = None  # None in aws mode: an ECR repository is created
    image_tag: str = "0.1.0"
    # sha256:<hex> of the image: deploy by digest. In a layered aws stack with the stack's own ECR repository the
    # app layer looks the tag's digest up itself; set this for an external registry.
    image_digest: str | None = None
    hosted_zone_id: str | None = None  # Route 53 zone of `domain`: ACM validation records are created there
    certificate_arn: str | None = None  # bring your own ACM certificate instead of requesting one
    acme_email: str = ""
    kube_context: str | None = None  # local mode: kubeconfig context; None uses the current one
    vector_store: str = "pgvector"
    openai_base_url: str | None = None
    network: NetworkConfig = field(default_factory=NetworkConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    secrets: StackSecrets = field(default_factory=StackSecrets)
    # trellis:monitoring as written (camelCase); its defaults depend on the environment, see ``monitoring_settings``.
    monitoring: dict[str, Any] = field(default_factory=dict)
    layer: Layer | None = None  # from the stack name (infra/layer.py); None: every layer in this stack

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def namespace(self) -> str:
        """One Kubernetes namespace per environment."""
        return f"trellis-{self.environment}"

    @property
    def monitoring_settings(self) -> MonitoringConfig:
        """Alarms, subscribers, budget and container log retention: this environment's defaults under
        ``trellis:monitoring`` (``infra/monitoring_config.py``). Raises ``ValueError`` when invalid."""
        return monitoring_config(self.environment, self.monitoring)

    @property
    def prefix(self) -> str:
        """Prefix of every resource name, so two stacks never collide in one account."""
        return f"trellis-{self.environment}"

    def problems(self) -> list[str]:
        """Every reason this config is unsafe or inconsistent (empty when valid)."""
        found: list[str] = []
        if not re.fullmatch(r"[a-z][a-z0-9-]{1,15}", self.environment):
            found.append("environment must be 2-16 lowercase letters, digits or dashes")
        if self.image_tag in ("", "latest"):
            found.append("imageTag must be a pinned version, never 'latest' or empty")
        if self.mode is Mode.LOCAL and not self.image_repository:
            found.append("local mode needs imageRepository (an image the cluster can pull)")
        if self.features.cert_manager and "@" not in self.acme_email:
            found.append("certManager needs acmeEmail")
        if self.image_digest is not None and not re.fullmatch(r"sha256:[0-9a-f]{64}", self.image_digest):
            found.append("imageDigest must be sha256:<64 hex digits>")
        if self.mode is Mode.AWS and self.features.ingress and self.features.ingress_class != "alb":
            found.append("aws mode serves through the AWS Load Balancer Controller: features.ingressClass 'alb'")
        for part in (self.network, self.cluster, self.database, self.cache, self.storage, self.api, self.worker):
            found.extend(part.problems())
        try:
            self.monitoring_settings  # noqa: B018 - validates
        except ValueError as exc:
            found.append(str(exc))
        if self.is_prod:
            found.extend(self._prod_problems())
        return found

    def _prod_problems(self) -> list[str]:
        # prod is the stack users depend on: these are not preferences but the HA contract.
        checks = {
            "prod database must be Multi-AZ": self.database.multi_az,
            "prod database must have deletion protection": self.database.deletion_protection,
            "prod database must keep backups >= 30 days": self.database.backup_retention_days >= 30,
            "prod cache needs >= 2 nodes for automatic failover": self.cache.nodes >= 2,
            "prod network needs a NAT gateway per AZ": self.network.nat_per_az,
            "prod storage needs a replica region": bool(self.storage.replica_region),
            "prod API needs >= 3 replicas": self.api.replicas >= 3,
            # An app update must not be able to reach the VPC, the cluster or a database (infra/layer.py).
            "prod runs as layer stacks (prod-cluster, prod-data, prod-addons, prod-app), never one stack":
                self.layer is not None,
        }
        if self.layer in (None, Layer.CLUSTER):
            # Set on the cluster stack only (they are the operator's, not the shared file's): the endpoint is
            # reachable only from the operators' and CI's networks, and named roles are cluster-admin.
            cidrs = self.cluster.public_access_cidrs
            checks["prod cluster.publicAccessCidrs must name your operator/CI networks, not 0.0.0.0/0"] = bool(
                cidrs) and "0.0.0.0/0" not in cidrs
            checks["prod needs cluster.adminRoleArns (operator roles with cluster-admin)"] = bool(
                self.cluster.admin_role_arns)
        if self.mode is Mode.LOCAL:
            return ["prod cannot run in local mode"]
        return [msg for msg, ok in checks.items() if not ok]

    def validate(self) -> StackConfig:
        """Return self, or raise ``ConfigError`` listing every problem."""
        found = self.problems()
        if found:
            raise ConfigError("; ".join(found))
        return self


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected an object")
        return from_mapping(tp, value, where)  # type: ignore[arg-type]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected an object")
        return dict(value)
    if origin is tuple:
        (item_tp, _ellipsis) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list")
        return tuple(_convert(item_tp, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if value is None else _convert(args[0], value, where)
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        try:
            return tp(value)
        except ValueError as exc:
            raise ConfigError(f"{where}: {value!r} is not one of {[m.value for m in tp]}") from exc
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and (type(value) is not tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {type(value).__name__}")
    return value


def from_mapping(cls: type[Any], raw: Mapping[str, Any], where: str = "trellis") -> Any:
    """Build dataclass ``cls`` from camelCase config keys; unknown keys raise ``ConfigError``."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = _snake(key)
        if name not in names:
            raise ConfigError(f"{where}.{key}: unknown key")
        values[name] = _convert(hints[name], value, f"{where}.{key}")
    return cls(**values)


_OBJECT_KEYS = ("network", "cluster", "database", "cache", "storage", "api", "worker", "features", "monitoring")
_SCALAR_KEYS = (
    "mode", "region", "domain", "imageRepository", "imageTag", "imageDigest", "acmeEmail",
    "kubeContext", "vectorStore", "openaiBaseUrl", "hostedZoneId", "certificateArn",
)


_RELEASE_KEYS = ("imageTag", "imageDigest")


def _merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``; objects merge key by key (lists and scalars are replaced)."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key),
                                                                                         Mapping) else value
    return out


def environment_settings(path: Any) -> dict[str, Any]:
    """The plain (non-secret) ``trellis:`` settings of an environment file ``Pulumi.<env>.yaml``, keys unprefixed.

    Layer stacks (``<env>-<layer>``) share their environment's settings this way; secure values are skipped
    (each layer stack sets the secrets it needs in its own config).
    """
    raw = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("config") or {}
    return {k.split(":", 1)[1]: v for k, v in raw.items()
            if k.startswith("trellis:") and not (isinstance(v, Mapping) and "secure" in v)}


def load_config(config: pulumi.Config, environment: str, layer: Layer | None = None,
                base: Mapping[str, Any] | None = None) -> StackConfig:
    """Read the ``trellis`` namespace of the current stack's config into a validated ``StackConfig``.

    ``environment`` defaults to the stack name at the call site; ``base`` (the environment file's settings, for a
    layer stack) is merged over the stack's own keys, objects key by key. Raises ``ConfigError``.
    """
    own: dict[str, Any] = {}
    for key in ("environment", *_SCALAR_KEYS):
        if (value := config.get(key)) is not None:
            own[key] = value
    for key in _OBJECT_KEYS:
        if (obj := config.get_object(key)) is not None:
            own[key] = obj
    # For a layer stack the environment file wins: the stack's own config only adds what the file leaves out
    # (operator settings, secrets), and Pulumi.yaml's project defaults can never shadow the file.
    raw = _merged(_merged({"environment": environment}, own), base or {})
    # ...except the release being deployed, which CI and `make deploy TAG=...` set per app stack.
    raw.update({key: own[key] for key in _RELEASE_KEYS if key in own})
    cfg = from_mapping(StackConfig, raw)
    secrets = StackSecrets(openai_api_key=config.get_secret("openaiApiKey"))
    return dataclasses.replace(cfg, secrets=secrets, layer=layer).validate()
