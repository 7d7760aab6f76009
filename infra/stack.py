"""The stack: composes the components for one ``StackConfig``. The program is ``build_stack(cfg)``.

``aws`` mode: Network -> Cluster -> (Database, Cache, Storage, Registry) -> Kubernetes
provider from the cluster's kubeconfig -> ClusterAddons -> Tenancy -> Platform.
``local`` mode: Kubernetes provider from the current kubeconfig -> Tenancy ->
InClusterStores -> Platform. Creates resources (call it only inside a Pulumi program or
under Pulumi's mocks); reads no environment. Returns ``StackOutputs``; the entry point
exports them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.cache import Cache, CacheArgs
from infra.cluster import Cluster, ClusterArgs
from infra.config import Mode, StackConfig
from infra.database import Database, DatabaseArgs
from infra.incluster import STORE_RESOURCES, InClusterStores
from infra.network import Network, NetworkArgs
from infra.platform import Backends, Irsa, Platform, PlatformArgs, Tenancy
from infra.platform.addons import ClusterAddons
from infra.registry import Registry
from infra.storage import Storage, StorageArgs

__all__ = ["StackOutputs", "build_stack"]


@dataclass(frozen=True)
class StackOutputs:
    """What ``pulumi stack output`` shows. ``kubeconfig`` is secret (None in local mode)."""

    api_url: pulumi.Input[str]
    namespace: pulumi.Input[str]
    image: pulumi.Input[str]
    database_endpoint: pulumi.Input[str]
    redis_endpoint: pulumi.Input[str]
    bucket_name: pulumi.Input[str]
    kubeconfig: pulumi.Output[str] | None

    def as_dict(self) -> dict[str, pulumi.Input[str] | None]:
        return dict(self.__dict__)


def build_stack(cfg: StackConfig) -> StackOutputs:
    """Create every resource of the stack described by ``cfg`` (validated first)."""
    cfg.validate()
    return _build_local(cfg) if cfg.mode is Mode.LOCAL else _build_aws(cfg)


def _image(repository: pulumi.Input[str], tag: str) -> pulumi.Output[str]:
    return pulumi.Output.concat(repository, ":", tag)


def _build_aws(cfg: StackConfig) -> StackOutputs:
    p = cfg.prefix
    zones = aws.get_availability_zones(state="available").names[: cfg.network.az_count]
    network = Network(p, NetworkArgs(cfg.network.cidr, tuple(zones), cfg.network.nat_per_az, p, cfg.region))
    cluster = Cluster(p, ClusterArgs(p, cfg.environment, cfg.cluster, network.private_subnet_ids,
                                     network.public_subnet_ids))
    clients = [cluster.security_group_id]
    database = Database(f"{p}-db", DatabaseArgs(cfg.database, network.vpc_id, network.private_subnet_ids, clients,
                                                protect=cfg.is_prod))
    cache = Cache(f"{p}-cache", CacheArgs(cfg.cache, network.vpc_id, network.private_subnet_ids, clients,
                                          protect=cfg.is_prod))
    storage = Storage(f"{p}-storage", StorageArgs(cfg.storage, cfg.region, protect=cfg.is_prod))
    repository = cfg.image_repository or Registry(f"{p}-registry", protect=cfg.is_prod).repository_url
    provider = k8s.Provider(f"{p}-k8s", kubeconfig=cluster.kubeconfig, enable_server_side_apply=True)
    k8s_opts = pulumi.ResourceOptions(providers=[provider])
    addons = ClusterAddons(f"{p}-addons", cfg.features, k8s_opts) if cfg.features.install_addons else None
    tenancy = Tenancy(f"{p}-tenancy", cfg, opts=k8s_opts)
    # The S3 prefix list gives the exact CIDRs of the regional S3 service, so egress to the
    # object store can be narrowed to S3 instead of "the internet on 443".
    s3_cidrs = aws.ec2.get_managed_prefix_list(name=f"com.amazonaws.{cfg.region}.s3").entries
    vpc = {"ipBlock": {"cidr": cfg.network.cidr}}
    backends = Backends(
        database_url=database.url, redis_url=cache.url, redis_address=pulumi.Output.concat(cache.address, ":6379"),
        redis_password=cache.auth_token, redis_tls=True, bucket=storage.bucket_name,
        database_peers=(vpc,), redis_peers=(vpc,),
        object_store_peers=(vpc, *({"ipBlock": {"cidr": e.cidr}} for e in s3_cidrs)),
        object_store_env={"AWS_REGION": cfg.region, "AWS_STS_REGIONAL_ENDPOINTS": "regional"},
    )
    platform = Platform(f"{p}-platform", PlatformArgs(
        cfg, _image(repository, cfg.image_tag), backends,
        irsa=Irsa(cluster.oidc_provider_arn, cluster.oidc_issuer, storage.bucket_arn, storage.key_arn),
        addons=tuple(addons.releases) if addons else (),
    ), pulumi.ResourceOptions(providers=[provider], depends_on=[tenancy]))
    return StackOutputs(
        api_url=platform.api_url, namespace=tenancy.namespace, image=_image(repository, cfg.image_tag),
        database_endpoint=database.endpoint, redis_endpoint=pulumi.Output.concat(cache.address, ":6379"),
        bucket_name=storage.bucket_name, kubeconfig=cluster.kubeconfig,
    )


def _build_local(cfg: StackConfig) -> StackOutputs:
    p = cfg.prefix
    provider = k8s.Provider(f"{p}-k8s", context=cfg.kube_context, enable_server_side_apply=True)
    k8s_opts = pulumi.ResourceOptions(providers=[provider])
    addons = ClusterAddons(f"{p}-addons", cfg.features, k8s_opts) if cfg.features.install_addons else None
    tenancy = Tenancy(f"{p}-tenancy", cfg, tuple(STORE_RESOURCES.values()), opts=k8s_opts)
    stores = InClusterStores(f"{p}-stores", cfg, pulumi.ResourceOptions(providers=[provider], depends_on=[tenancy]))
    image = _image(cfg.image_repository or "", cfg.image_tag)
    platform = Platform(f"{p}-platform", PlatformArgs(
        cfg, image, stores.backends, extra_pods=stores.pods, addons=tuple(addons.releases) if addons else (),
    ), pulumi.ResourceOptions(providers=[provider], depends_on=[tenancy]))
    return StackOutputs(
        api_url=platform.api_url, namespace=tenancy.namespace, image=image,
        database_endpoint=f"trellis-postgres.{cfg.namespace}.svc:5432",
        redis_endpoint=f"trellis-redis.{cfg.namespace}.svc:6379", bucket_name=stores.backends.bucket, kubeconfig=None,
    )
