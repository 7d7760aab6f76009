"""Platform: everything Trellis runs in Kubernetes, in one environment's namespace.

``Platform`` composes the modules of this package in dependency order: identity and app
configuration, the migration Job, then the API and worker Deployments (which wait for
the migration), autoscaling, disruption budgets, NetworkPolicies, Ingress, the backup
CronJob and observability. The namespace itself comes from ``Tenancy`` (created first by
the caller, so in-cluster data stores can share it). Kubernetes resources use the provider
passed in ``opts.providers``. Outputs: ``api_url``, ``ingress`` (the Ingress resource, or None).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.platform.api import create_api
from infra.platform.availability import create_autoscaling, create_disruption_budgets
from infra.platform.identity import create_identity
from infra.platform.ingress import create_ingress
from infra.platform.jobs import create_backup, create_migration
from infra.platform.netpol import create_network_policies
from infra.platform.observability import create_observability
from infra.platform.pods import checksum
from infra.platform.secrets import app_settings, create_app_config
from infra.platform.spec import Backends, Edge, Irsa, PlatformArgs
from infra.platform.tenancy import Tenancy
from infra.platform.worker import create_worker

__all__ = ["Backends", "Edge", "Irsa", "Platform", "PlatformArgs", "Tenancy"]


class Platform(pulumi.ComponentResource):
    """The Trellis workloads and their policies, in an existing namespace."""

    api_url: str
    ingress: k8s.networking.v1.Ingress | None  # None without features.ingress

    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        args.validate()
        super().__init__("trellis:platform:Platform", name, None, opts)
        cfg = args.config
        base = pulumi.ResourceOptions(parent=self)
        # Custom resources need their CRDs: wait for the add-on releases that install them.
        with_crds = pulumi.ResourceOptions(parent=self, depends_on=list(args.addons))
        accounts = create_identity(name, args, base)
        app_config = create_app_config(name, args, base)
        ready = pulumi.ResourceOptions(parent=self, depends_on=[*accounts, *app_config])
        migration = create_migration(name, args, ready)
        config_hash = pulumi.Output.from_input(app_settings(args)).apply(checksum)
        create_api(name, args, config_hash, [migration], ready)
        create_worker(name, args, config_hash, [migration], ready)
        create_autoscaling(name, args, with_crds)  # KEDA's ScaledObject needs its CRDs
        create_disruption_budgets(name, args, base)
        create_network_policies(name, args, base)
        self.api_url, self.ingress = create_ingress(name, args, with_crds) if cfg.features.ingress else ("", None)
        if cfg.features.backups:
            create_backup(name, args, ready)
        create_observability(name, args, with_crds)
        self.register_outputs({"api_url": self.api_url})

