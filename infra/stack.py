"""The stack: composes the components for one ``StackConfig``. The program is ``build_stack(cfg)``.

``aws`` mode has four layers (``infra/layer.py``), built in this order:
cluster (Network, Cluster with its EKS add-ons, NodeAutoscaler) -> data (Database, Cache, Storage,
Registry) -> addons (ContainerInsights, ClusterAddons) -> app (PublicEndpoint, Tenancy, Platform,
Monitoring). With ``cfg.layer`` set only that layer is built and the layers before it are read through
``StackReference``s to ``<env>-<layer>`` stacks (their exported outputs, see ``infra/layer_outputs.py``);
without it every layer is built in this one stack. ``local`` mode: Kubernetes provider from the current kubeconfig
-> Tenancy -> InClusterStores -> Platform. Creates resources (call it only inside a Pulumi program
or under Pulumi's mocks); reads no environment. Returns ``StackOutputs``; the entry point exports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.cache import Cache, CacheArgs
from infra.cluster import Cluster, ClusterArgs
from infra.config import Mode, StackConfig
from infra.database import Database, DatabaseArgs
from infra.endpoint import PublicEndpoint, PublicEndpointArgs
from infra.incluster import STORE_RESOURCES, InClusterStores
from infra.insights import ContainerInsights, ContainerInsightsArgs
from infra.irsa import Oidc
from infra.layer import LAYER_ORDER, Layer
from infra.layer_outputs import AddonsOutputs, ClusterOutputs, DataOutputs, StackOutputs, read_layer
from infra.monitoring import Monitoring, MonitoringArgs, ingress_load_balancer, load_balancer_host
from infra.network import Network, NetworkArgs, pick_zones
from infra.node_autoscaler import NodeAutoscaler, NodeAutoscalerArgs
from infra.platform import Backends, Edge, Irsa, Platform, PlatformArgs, Tenancy
from infra.platform.addons import LOCAL_INGRESS_NAMESPACE, AddonsArgs, ClusterAddons
from infra.platform.ingress import INGRESS_NAME
from infra.platform.netpol import namespace_peer
from infra.registry import Registry
from infra.specs import LogShipping
from infra.storage import Storage, StorageArgs

__all__ = ["StackOutputs", "build_stack", "image_reference"]


def build_stack(cfg: StackConfig) -> StackOutputs:
    """Create every resource of the stack described by ``cfg`` (validated first)."""
    cfg.validate()
    return _build_local(cfg) if cfg.mode is Mode.LOCAL else _build_aws(cfg)


def image_reference(repository: pulumi.Input[str], tag: str, digest: pulumi.Input[str] | None) -> pulumi.Output[str]:
    """``repo:tag@sha256:...`` when the digest is known (what the kubelet pulls is then fixed), else ``repo:tag``."""
    if digest is None:
        return pulumi.Output.concat(repository, ":", tag)
    return pulumi.Output.concat(repository, ":", tag, "@", digest)


@dataclass
class _Providers:
    """The stack's explicit providers: AWS (region and default tags from the environment's settings, so a layer
    stack needs no ``aws:*`` config of its own) and, where the stack applies anything to the cluster, Kubernetes."""

    aws: aws.Provider
    k8s: k8s.Provider | None = None

    def opts(self, **extra: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(providers=[p for p in (self.aws, self.k8s) if p is not None], **extra)

    def invoke(self) -> pulumi.InvokeOptions:
        return pulumi.InvokeOptions(provider=self.aws)


def _build_aws(cfg: StackConfig) -> StackOutputs:
    wanted = [cfg.layer] if cfg.layer else list(LAYER_ORDER)
    outputs = StackOutputs()
    providers = _Providers(aws.Provider(f"{cfg.prefix}-aws", region=cfg.region, default_tags={"tags": {
        "project": "trellis", "environment": cfg.environment}}))
    if Layer.CLUSTER in wanted:
        cluster = _cluster_layer(cfg, providers)
        outputs.add(cluster)
    else:
        cluster = read_layer(ClusterOutputs, cfg, Layer.CLUSTER)
        if cfg.layer in (Layer.ADDONS, Layer.APP):  # none where nothing is applied to the cluster (data)
            providers.k8s = _k8s_provider(cfg, cluster.kubeconfig)
    if Layer.DATA in wanted:
        outputs.add(data := _data_layer(cfg, cluster, providers))
    elif Layer.APP in wanted:
        data = read_layer(DataOutputs, cfg, Layer.DATA)
    addons = None
    if Layer.ADDONS in wanted:
        addons = _addons_layer(cfg, cluster, providers)
        outputs.add(addons.outputs)
    if Layer.APP in wanted:
        outputs.add_app(_app_layer(cfg, cluster, data, providers, addons.releases if addons else ()))
    return outputs


def _k8s_provider(cfg: StackConfig, kubeconfig: pulumi.Input[str]) -> k8s.Provider:
    return k8s.Provider(f"{cfg.prefix}-k8s", kubeconfig=kubeconfig, enable_server_side_apply=True)


def _cluster_layer(cfg: StackConfig, providers: _Providers) -> ClusterOutputs:
    p = cfg.prefix
    # Local Zones and Wavelength zones are not availability zones; zone IDs EKS cannot use are skipped.
    found = aws.get_availability_zones(state="available", filters=[{"name": "zone-type",
                                                                    "values": ["availability-zone"]}],
                                       opts=providers.invoke())
    zones = pick_zones(list(found.names), list(found.zone_ids), cfg.network.az_count)
    network = Network(p, NetworkArgs(cfg.network.cidr, zones, cfg.network.nat_per_az, p, cfg.region),
                      providers.opts())
    cluster = Cluster(p, ClusterArgs(p, cfg.environment, cfg.cluster, network.private_subnet_ids,
                                     network.public_subnet_ids), providers.opts())
    oidc = Oidc(cluster.oidc_provider_arn, cluster.oidc_issuer)
    providers.k8s = _k8s_provider(cfg, cluster.kubeconfig)
    NodeAutoscaler(f"{p}-node-autoscaler", NodeAutoscalerArgs(cluster.name, cfg.cluster.version, cfg.region, oidc),
                   providers.opts())
    return ClusterOutputs(
        vpc_id=network.vpc_id, private_subnet_ids=network.private_subnet_ids, cluster_name=cluster.name,
        cluster_security_group_id=cluster.security_group_id, oidc_provider_arn=cluster.oidc_provider_arn,
        oidc_issuer=cluster.oidc_issuer, kubeconfig=cluster.kubeconfig,
        nat_gateway_ids=pulumi.Output.all(*network.nat_gateway_ids),
    )


def _data_layer(cfg: StackConfig, cluster: ClusterOutputs, providers: _Providers) -> DataOutputs:
    p = cfg.prefix
    clients = [cluster.cluster_security_group_id]
    database = Database(f"{p}-db", DatabaseArgs(cfg.database, cluster.vpc_id, cluster.private_subnet_ids, clients,
                                                protect=cfg.is_prod), providers.opts())
    cache = Cache(f"{p}-cache", CacheArgs(cfg.cache, cluster.vpc_id, cluster.private_subnet_ids, clients,
                                          protect=cfg.is_prod), providers.opts())
    storage = Storage(f"{p}-storage", StorageArgs(cfg.storage, cfg.region, protect=cfg.is_prod), providers.opts())
    registry = None if cfg.image_repository else Registry(f"{p}-registry", protect=cfg.is_prod,
                                                          opts=providers.opts())
    return DataOutputs(
        database_url=database.url, database_endpoint=database.endpoint, redis_url=cache.url,
        redis_endpoint=pulumi.Output.concat(cache.address, ":6379"), redis_auth_token=cache.auth_token,
        bucket_name=storage.bucket_name, bucket_arn=storage.bucket_arn, bucket_key_arn=storage.key_arn,
        backup_bucket_name=storage.backup_bucket_name, backup_bucket_arn=storage.backup_bucket_arn,
        backup_key_arn=storage.backup_key_arn,
        repository_url=registry.repository_url if registry else cfg.image_repository or "",
        repository_name=registry.repository_name if registry else "",
        database_instance_id=database.instance_id, cache_replication_group_id=cache.replication_group_id,
    )


class _Addons:
    def __init__(self, releases: tuple[pulumi.Resource, ...], outputs: AddonsOutputs) -> None:
        self.releases, self.outputs = releases, outputs


def _addons_layer(cfg: StackConfig, cluster: ClusterOutputs, providers: _Providers) -> _Addons:
    oidc = Oidc(cluster.oidc_provider_arn, cluster.oidc_issuer)
    # Pod logs are kept as long as the environment says, whichever of the two shippers (one per env) runs.
    retention = cfg.monitoring_settings.log_retention_days
    ContainerInsights(f"{cfg.prefix}-insights", ContainerInsightsArgs(
        cluster.cluster_name, oidc, retention, ships_logs=cfg.features.log_shipping is LogShipping.CONTAINER_INSIGHTS,
    ), providers.opts())
    if not cfg.features.install_addons:
        return _Addons((), AddonsOutputs(releases=[]))
    addons = ClusterAddons(f"{cfg.prefix}-addons", AddonsArgs(
        cfg.features, cluster.cluster_name, cfg.region, cluster.vpc_id, oidc, retention, cfg.is_prod,
    ), providers.opts())
    return _Addons(tuple(addons.releases), AddonsOutputs(releases=[r.name for r in addons.releases]))


def _app_image(cfg: StackConfig, data: DataOutputs, providers: _Providers) -> pulumi.Output[str]:
    if cfg.image_digest or cfg.image_repository or not cfg.layer:
        # An external registry, or every layer in one stack (the repository is created in this very update,
        # so the tag cannot be looked up yet): the configured digest if any, else the tag.
        return image_reference(data.repository_url, cfg.image_tag, cfg.image_digest)
    # Layered with our own ECR repository: the image was pushed after the data layer; pin what the tag names now.
    found = aws.ecr.get_image_output(repository_name=data.repository_name, image_tag=cfg.image_tag,
                                     opts=pulumi.InvokeOutputOptions(provider=providers.aws))
    return image_reference(data.repository_url, cfg.image_tag, found.image_digest)


def _app_layer(cfg: StackConfig, cluster: ClusterOutputs, data: DataOutputs, providers: _Providers,
               addons: tuple[pulumi.Resource, ...]) -> dict[str, pulumi.Input[str] | None]:
    p = cfg.prefix
    endpoint = PublicEndpoint(f"{p}-endpoint", PublicEndpointArgs(
        cfg.domain, cfg.hosted_zone_id, cfg.certificate_arn, cfg.features.waf, cfg.features.waf_rate_limit),
        providers.opts())
    tenancy = Tenancy(f"{p}-tenancy", cfg, opts=providers.opts())
    # The S3 prefix list gives the exact CIDRs of the regional S3 service, so egress to the
    # object store can be narrowed to S3 instead of "the internet on 443".
    s3_cidrs = aws.ec2.get_managed_prefix_list(name=f"com.amazonaws.{cfg.region}.s3",
                                               opts=providers.invoke()).entries
    vpc = {"ipBlock": {"cidr": cfg.network.cidr}}
    backends = Backends(
        database_url=pulumi.Output.secret(data.database_url), redis_url=pulumi.Output.secret(data.redis_url),
        redis_address=data.redis_endpoint, redis_password=pulumi.Output.secret(data.redis_auth_token),
        redis_tls=True, bucket=data.bucket_name, backup_bucket=data.backup_bucket_name,
        database_peers=(vpc,), redis_peers=(vpc,),
        object_store_peers=(vpc, *({"ipBlock": {"cidr": e.cidr}} for e in s3_cidrs)),
        object_store_env={"AWS_REGION": cfg.region, "AWS_STS_REGIONAL_ENDPOINTS": "regional"},
        internal_cidrs=(cfg.network.cidr,),
    )
    image = _app_image(cfg, data, providers)
    platform = Platform(f"{p}-platform", PlatformArgs(
        cfg, image, backends,
        # The ALB sits in the public subnets and sends to pod IPs: admit the VPC on the HTTP port only.
        edge=Edge(ingress_peers=(vpc,), certificate_arn=endpoint.certificate_arn, web_acl_arn=endpoint.web_acl_arn),
        irsa=Irsa(Oidc(cluster.oidc_provider_arn, cluster.oidc_issuer), data.bucket_arn, data.bucket_key_arn,
                  data.backup_bucket_arn, data.backup_key_arn),
        addons=addons, image_pinned=bool(cfg.image_digest or (cfg.layer and not cfg.image_repository)),
    ), providers.opts(depends_on=[tenancy]))
    monitoring = _monitoring(cfg, cluster, data, providers, platform.ingress)
    return {"api_url": platform.api_url, "namespace": tenancy.namespace, "image": image,
            "certificate_validation_records": endpoint.validation_records,
            "dashboard_url": monitoring.dashboard_url, "alerts_topic_arn": monitoring.topic_arn}


def _monitoring(cfg: StackConfig, cluster: ClusterOutputs, data: DataOutputs, providers: _Providers,
                ingress: k8s.networking.v1.Ingress | None) -> Monitoring:
    """The environment's CloudWatch alarms, dashboard and budget, in the app layer: the last one, the only one
    after the ALB exists (the controller creates it from the app's Ingress). Everything else it watches comes
    from the cluster and data layers' outputs."""
    load_balancer = None
    if ingress is not None and cfg.features.ingress_class == "alb":
        ready = ingress.status.apply(load_balancer_host)
        load_balancer = ingress_load_balancer(cluster.cluster_name, f"{cfg.namespace}/{INGRESS_NAME}", ready,
                                              pulumi.InvokeOutputOptions(provider=providers.aws))
    return Monitoring(f"{cfg.prefix}-monitoring", MonitoringArgs(
        environment=cfg.environment, region=cfg.region, config=cfg.monitoring_settings,
        cluster_name=cluster.cluster_name, db_instance_id=data.database_instance_id,
        cache_replication_group_id=data.cache_replication_group_id, cache_nodes=cfg.cache.nodes,
        bucket_name=data.bucket_name, nat_gateway_ids=cluster.nat_gateway_ids, load_balancer=load_balancer,
    ), providers.opts())


def _build_local(cfg: StackConfig) -> StackOutputs:
    p = cfg.prefix
    provider = k8s.Provider(f"{p}-k8s", context=cfg.kube_context, enable_server_side_apply=True)
    k8s_opts = pulumi.ResourceOptions(providers=[provider])
    addons = ClusterAddons(f"{p}-addons", AddonsArgs(cfg.features), k8s_opts) if cfg.features.install_addons else None
    tenancy = Tenancy(f"{p}-tenancy", cfg, tuple(STORE_RESOURCES.values()), opts=k8s_opts)
    stores = InClusterStores(f"{p}-stores", cfg, pulumi.ResourceOptions(providers=[provider], depends_on=[tenancy]))
    image = image_reference(cfg.image_repository or "", cfg.image_tag, cfg.image_digest)
    platform = Platform(f"{p}-platform", PlatformArgs(
        cfg, image, stores.backends, edge=Edge(ingress_peers=(namespace_peer(LOCAL_INGRESS_NAMESPACE),)),
        extra_pods=stores.pods, addons=tuple(addons.releases) if addons else (), image_pinned=bool(cfg.image_digest),
    ), pulumi.ResourceOptions(providers=[provider], depends_on=[tenancy]))
    outputs = StackOutputs()
    outputs.add_app({
        "api_url": platform.api_url, "namespace": tenancy.namespace, "image": image,
        "database_endpoint": f"trellis-postgres.{cfg.namespace}.svc:5432",
        "redis_endpoint": f"trellis-redis.{cfg.namespace}.svc:6379", "bucket_name": stores.backends.bucket,
    })
    return outputs
