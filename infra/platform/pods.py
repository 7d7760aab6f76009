"""Pod and container building blocks shared by every Trellis workload (plain manifest dicts).

Every container built here runs as the image's non-root user with a read-only root
filesystem, no privilege escalation, all capabilities dropped and the RuntimeDefault
seccomp profile (Pod Security ``restricted``). Writable paths are emptyDir volumes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from infra.platform.spec import APP_UID
from infra.specs import ContainerResources

__all__ = [
    "CONFIG_NAME", "SECRET_NAME", "TRELLIS_HOME", "container", "pod_security",
    "resources", "scratch_volumes", "topology_spread", "checksum", "http_probe",
]

CONFIG_NAME = "trellis-config"
SECRET_NAME = "trellis-env"
TRELLIS_HOME = "/var/lib/trellis"


def resources(spec: ContainerResources) -> dict[str, Any]:
    return {"requests": {"cpu": spec.cpu_request, "memory": spec.memory_request},
            "limits": {"cpu": spec.cpu_limit, "memory": spec.memory_limit}}


def pod_security(uid: int = APP_UID) -> dict[str, Any]:
    """Pod-level securityContext; ``fsGroup`` makes emptyDir/PVC volumes writable by ``uid``."""
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid,
            "seccompProfile": {"type": "RuntimeDefault"}}


def _container_security() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]}}


def scratch_volumes() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, mounts) for /tmp and TRELLIS_HOME: the only writable paths of the app containers."""
    volumes = [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}, {"name": "home", "emptyDir": {"sizeLimit": "1Gi"}}]
    mounts = [{"name": "tmp", "mountPath": "/tmp"}, {"name": "home", "mountPath": TRELLIS_HOME}]
    return volumes, mounts


def http_probe(path: str, port: int | str, period: int = 10, failures: int = 3, delay: int = 0) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period, "timeoutSeconds": 3,
            "failureThreshold": failures, "initialDelaySeconds": delay}


def container(name: str, image: Any, command: Sequence[str], spec: ContainerResources,
              env: Sequence[Mapping[str, Any]] = (), app_env: bool = True, **extra: Any) -> dict[str, Any]:
    """A hardened container; ``app_env`` adds the shared ConfigMap and Secret as environment."""
    body: dict[str, Any] = {
        "name": name, "image": image, "imagePullPolicy": "IfNotPresent", "command": list(command),
        "resources": resources(spec), "securityContext": _container_security(), "env": list(env),
    }
    if app_env:
        body["envFrom"] = [{"configMapRef": {"name": CONFIG_NAME}}, {"secretRef": {"name": SECRET_NAME}}]
    body.update(extra)
    return body


def topology_spread(match: Mapping[str, str], strict: bool) -> list[dict[str, Any]]:
    """Spread over zones (hard in prod, where losing a zone must not take a component down) and nodes (soft)."""
    zone_rule = "DoNotSchedule" if strict else "ScheduleAnyway"
    return [
        {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": zone_rule,
         "labelSelector": {"matchLabels": dict(match)}},
        {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
         "labelSelector": {"matchLabels": dict(match)}},
    ]


def checksum(data: Mapping[str, Any]) -> str:
    """Stable hash of non-secret config, put on pod templates so a config change rolls the pods."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def deployment_spec(*, replicas: int, match: Mapping[str, str], pod_labels: Mapping[str, str], config_hash: str,
                    service_account: str, grace_seconds: int, spread_strictly: bool,
                    main: Mapping[str, Any], volumes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The Deployment spec both processes share: surge-only rolling updates (never below the replica count),
    non-root pods without a service-account token mount, zone spread, and a config hash annotation so a
    change of configuration rolls the pods."""
    return {
        "replicas": replicas,
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": dict(match)},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {
            "metadata": {"labels": dict(pod_labels), "annotations": {"trellis.io/config-hash": config_hash}},
            "spec": {
                "serviceAccountName": service_account,
                "automountServiceAccountToken": False,
                "securityContext": pod_security(),
                "terminationGracePeriodSeconds": grace_seconds,
                "topologySpreadConstraints": topology_spread(match, strict=spread_strictly),
                "containers": [main],
                "volumes": list(volumes),
            },
        },
    }
