"""Ingress: how clients reach the API.

An ``nginx``-class Ingress for ``domain`` -> the API Service. Server-sent events need the
proxy to pass bytes through as they come (buffering off) and to hold idle streams open
(long read/send timeouts). With cert-manager on, a namespaced ACME ``Issuer`` (HTTP-01
through the same ingress class) provisions the TLS certificate; otherwise plain HTTP.
Returns the public base URL.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.platform.api import API_NAME
from infra.platform.spec import PlatformArgs, labels

__all__ = ["create_ingress", "ISSUER_NAME", "SSE_ANNOTATIONS"]

ISSUER_NAME = "trellis-acme"
TLS_SECRET = "trellis-tls"
ACME_SERVER = "https://acme-v02.api.letsencrypt.org/directory"
SSE_ANNOTATIONS = {
    "nginx.ingress.kubernetes.io/proxy-buffering": "off",
    "nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
    "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
    "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
    "nginx.ingress.kubernetes.io/proxy-body-size": "64m",
}


def issuer_spec(email: str) -> dict[str, Any]:
    return {"acme": {
        "server": ACME_SERVER, "email": email, "privateKeySecretRef": {"name": f"{ISSUER_NAME}-account"},
        "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx"}}}],
    }}


def create_ingress(name: str, args: PlatformArgs, opts: pulumi.ResourceOptions) -> str:
    """Create the Ingress (and Issuer); returns ``https://domain`` or ``http://domain``."""
    cfg = args.config
    meta = {"namespace": cfg.namespace, "labels": labels(cfg.environment, "ingress")}
    annotations = dict(SSE_ANNOTATIONS)
    spec: dict[str, Any] = {"ingressClassName": "nginx", "rules": [{"host": cfg.domain, "http": {"paths": [{
        "path": "/", "pathType": "Prefix",
        "backend": {"service": {"name": API_NAME, "port": {"name": "http"}}},
    }]}}]}
    depends: list[pulumi.Resource] = []
    if cfg.features.cert_manager:
        depends.append(k8s.apiextensions.CustomResource(
            f"{name}-issuer", api_version="cert-manager.io/v1", kind="Issuer",
            metadata={**meta, "name": ISSUER_NAME}, spec=issuer_spec(cfg.acme_email), opts=opts,
        ))
        annotations["cert-manager.io/issuer"] = ISSUER_NAME
        annotations["nginx.ingress.kubernetes.io/ssl-redirect"] = "true"
        spec["tls"] = [{"hosts": [cfg.domain], "secretName": TLS_SECRET}]
    k8s.networking.v1.Ingress(
        f"{name}-ingress", metadata={**meta, "name": "trellis", "annotations": annotations}, spec=spec,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=depends)),
    )
    return f"{'https' if cfg.features.cert_manager else 'http'}://{cfg.domain}"
