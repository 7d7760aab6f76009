"""Layers: the four stacks one AWS environment is split into, and how a stack name maps to one.

``<env>-cluster`` (network, EKS, node autoscaling), ``<env>-data`` (RDS, Redis, buckets, ECR),
``<env>-addons`` (load balancer controller, KEDA, Prometheus, logs) and ``<env>-app`` (the Trellis
namespace and workloads) each hold only their own resources, so an update to the app cannot
replace the VPC, the cluster or a database. A stack named just ``<env>`` builds every layer in one
stack (the ``local`` stack, and a throwaway dev). Pure data; no resources.
"""

from __future__ import annotations

import re
from enum import StrEnum

__all__ = ["Layer", "LAYER_ORDER", "split_stack", "stack_name"]


class Layer(StrEnum):
    CLUSTER = "cluster"
    DATA = "data"
    ADDONS = "addons"
    APP = "app"


# `up` in this order, `destroy` in reverse: each layer reads the outputs of the ones before it.
LAYER_ORDER = (Layer.CLUSTER, Layer.DATA, Layer.ADDONS, Layer.APP)


def split_stack(stack: str) -> tuple[str, Layer | None]:
    """``"prod-app"`` -> ``("prod", Layer.APP)``; ``"dev"`` -> ``("dev", None)`` (every layer in one stack)."""
    match = re.fullmatch(r"(.+)-(" + "|".join(layer.value for layer in Layer) + ")", stack)
    return (match.group(1), Layer(match.group(2))) if match else (stack, None)


def stack_name(environment: str, layer: Layer) -> str:
    """The stack holding ``layer`` of ``environment`` (what ``StackReference`` names, without the org/project)."""
    return f"{environment}-{layer.value}"
