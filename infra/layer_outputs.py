"""What each aws layer hands the next: typed outputs, exported by the layer's stack and read back through
a ``StackReference`` by the layers after it.

A field's name is its stack output name. Secret fields (``SECRET_OUTPUTS``) are exported as secrets and
come back secret. ``read_layer`` is the only place that knows how a layer stack is named and referenced.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

import pulumi

from infra.config import StackConfig
from infra.layer import Layer, stack_name

__all__ = ["AddonsOutputs", "ClusterOutputs", "DataOutputs", "SECRET_OUTPUTS", "StackOutputs", "read_layer",
           "reference_name"]

SECRET_OUTPUTS = frozenset({"kubeconfig", "database_url", "redis_url", "redis_auth_token"})
T = TypeVar("T")


@dataclass(frozen=True)
class ClusterOutputs:
    vpc_id: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Output[str]]
    cluster_name: pulumi.Input[str]
    cluster_security_group_id: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    kubeconfig: pulumi.Input[str]
    nat_gateway_ids: pulumi.Input[list[str]]  # one list: one per AZ, or one shared (network.natPerAz)


@dataclass(frozen=True)
class DataOutputs:
    database_url: pulumi.Input[str]
    database_endpoint: pulumi.Input[str]
    redis_url: pulumi.Input[str]
    redis_endpoint: pulumi.Input[str]
    redis_auth_token: pulumi.Input[str]
    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    bucket_key_arn: pulumi.Input[str]
    backup_bucket_name: pulumi.Input[str]
    backup_bucket_arn: pulumi.Input[str]
    backup_key_arn: pulumi.Input[str]
    repository_url: pulumi.Input[str]
    repository_name: pulumi.Input[str]
    database_instance_id: pulumi.Input[str]  # what CloudWatch's RDS and ElastiCache metrics are keyed by
    cache_replication_group_id: pulumi.Input[str]


@dataclass(frozen=True)
class AddonsOutputs:
    releases: list[pulumi.Input[str]]  # for `pulumi stack output`; the app layer runs after this stack's `up`


class StackOutputs:
    """The outputs one stack exports: every built layer's fields, plus the app's own."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    def add(self, layer: Any) -> None:
        for f in dataclasses.fields(layer):
            value = getattr(layer, f.name)
            self._values[f.name] = pulumi.Output.secret(value) if f.name in SECRET_OUTPUTS else value

    def add_app(self, values: dict[str, Any]) -> None:
        self._values.update(values)

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


def reference_name(cfg: StackConfig, layer: Layer) -> str:
    """``<org>/<project>/<env>-<layer>``: the fully qualified name a ``StackReference`` needs."""
    return f"{pulumi.get_organization()}/{pulumi.get_project()}/{stack_name(cfg.environment, layer)}"


def read_layer(cls: type[T], cfg: StackConfig, layer: Layer) -> T:
    """The outputs of ``layer``'s stack as ``cls``; list fields are split into one Output per element."""
    ref = pulumi.StackReference(reference_name(cfg, layer))
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        out = ref.require_output(f.name)
        if f.name == "private_subnet_ids":  # one per AZ; the count is the environment's setting
            values[f.name] = [out.apply(lambda ids, i=i: ids[i]) for i in range(cfg.network.az_count)]
        else:
            values[f.name] = out
    return cls(**values)
