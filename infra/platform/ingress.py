"""Ingress: how clients reach the API.

- ``alb`` class (AWS): the AWS Load Balancer Controller turns the Ingress into an internet-facing
  ALB sending straight to the API pods (target type ``ip``), TLS with the ACM certificate, HTTP
  redirected to HTTPS, a modern TLS policy, invalid header fields dropped, and idle streams held for
  an hour (server-sent events; the ALB does not buffer responses). The ALB appends the client's
  address to ``X-Forwarded-For`` and the app trusts exactly that one hop, so the header cannot be
  spoofed. ``/metrics`` and ``/ready`` get a fixed 404 at the ALB (the app serves them only on its
  metrics port anyway). With ``features.waf`` the WAF web ACL is attached.
- any other class (local clusters): a plain Ingress for ``domain``; with cert-manager on, a namespaced
  ACME ``Issuer`` (HTTP-01 through that class) provisions TLS; for ``nginx``, SSE-friendly annotations.
Returns the public base URL and the Ingress (its status names the load balancer once it exists).
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.platform.api import API_NAME
from infra.platform.spec import PlatformArgs, labels

__all__ = ["BLOCKED_PATHS", "create_ingress", "INGRESS_NAME", "ISSUER_NAME", "SSE_ANNOTATIONS", "alb_annotations"]

ISSUER_NAME = "trellis-acme"
INGRESS_NAME = "trellis"
TLS_SECRET = "trellis-tls"
ACME_SERVER = "https://acme-v02.api.letsencrypt.org/directory"
BLOCKED_PATHS = ("/metrics", "/ready")
DEREGISTRATION_SECONDS = 10
_ALB = "alb.ingress.kubernetes.io/"
SSE_ANNOTATIONS = {
    "nginx.ingress.kubernetes.io/proxy-buffering": "off",
    "nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
    "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
    "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
    "nginx.ingress.kubernetes.io/proxy-body-size": "64m",
}


def issuer_spec(email: str, ingress_class: str) -> dict[str, Any]:
    return {"acme": {
        "server": ACME_SERVER, "email": email, "privateKeySecretRef": {"name": f"{ISSUER_NAME}-account"},
        "solvers": [{"http01": {"ingress": {"ingressClassName": ingress_class}}}],
    }}


def alb_annotations(certificate_arn: pulumi.Input[str] | None,
                    web_acl_arn: pulumi.Input[str] | None) -> dict[str, pulumi.Input[str]]:
    """The AWS Load Balancer Controller's settings for the API's ALB."""
    attributes = ["idle_timeout.timeout_seconds=3600", "routing.http.drop_invalid_header_fields.enabled=true",
                  "routing.http.xff_header_processing.mode=append"]
    out: dict[str, pulumi.Input[str]] = {
        f"{_ALB}scheme": "internet-facing", f"{_ALB}target-type": "ip",
        f"{_ALB}listen-ports": json.dumps([{"HTTP": 80}, {"HTTPS": 443}]), f"{_ALB}ssl-redirect": "443",
        f"{_ALB}ssl-policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
        f"{_ALB}healthcheck-path": "/health", f"{_ALB}load-balancer-attributes": ",".join(attributes),
        # Shorter than the API's preStop sleep: the ALB is done with a pod before gunicorn starts draining it.
        f"{_ALB}target-group-attributes": f"deregistration_delay.timeout_seconds={DEREGISTRATION_SECONDS}",
        f"{_ALB}actions.blocked": json.dumps({"type": "fixed-response", "fixedResponseConfig": {
            "contentType": "application/json", "statusCode": "404",
            "messageBody": json.dumps({"code": "not_found", "message": "Not Found", "status": 404})}}),
    }
    if certificate_arn is not None:
        out[f"{_ALB}certificate-arn"] = certificate_arn
    if web_acl_arn is not None:
        out[f"{_ALB}wafv2-acl-arn"] = web_acl_arn
    return out


def _paths(alb: bool) -> list[dict[str, Any]]:
    api = {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": API_NAME, "port": {"name": "http"}}}}
    if not alb:
        return [api]
    # Listed before "/": the controller turns paths into ALB rules in this order.
    blocked = [{"path": p, "pathType": "Prefix",
                "backend": {"service": {"name": "blocked", "port": {"name": "use-annotation"}}}} for p in BLOCKED_PATHS]
    return [*blocked, api]


def create_ingress(name: str, args: PlatformArgs,
                   opts: pulumi.ResourceOptions) -> tuple[str, k8s.networking.v1.Ingress]:
    """Create the Ingress (and, for cert-manager, the Issuer); returns ``https://domain`` or ``http://domain``
    and the Ingress."""
    cfg = args.config
    ingress_class, alb = cfg.features.ingress_class, cfg.features.ingress_class == "alb"
    meta = {"namespace": cfg.namespace, "labels": labels(cfg.environment, "ingress")}
    spec: dict[str, Any] = {"ingressClassName": ingress_class,
                            "rules": [{"host": cfg.domain, "http": {"paths": _paths(alb)}}]}
    annotations: dict[str, pulumi.Input[str]] = (
        alb_annotations(args.edge.certificate_arn, args.edge.web_acl_arn) if alb
        else dict(SSE_ANNOTATIONS) if ingress_class == "nginx" else {})
    depends: list[pulumi.Resource] = []
    if cfg.features.cert_manager and not alb:
        depends.append(k8s.apiextensions.CustomResource(
            f"{name}-issuer", api_version="cert-manager.io/v1", kind="Issuer",
            metadata={**meta, "name": ISSUER_NAME}, spec=issuer_spec(cfg.acme_email, ingress_class), opts=opts,
        ))
        annotations["cert-manager.io/issuer"] = ISSUER_NAME
        spec["tls"] = [{"hosts": [cfg.domain], "secretName": TLS_SECRET}]
    ingress = k8s.networking.v1.Ingress(
        f"{name}-ingress", metadata={**meta, "name": INGRESS_NAME, "annotations": annotations}, spec=spec,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=depends)),
    )
    return f"{'https' if alb or cfg.features.cert_manager else 'http'}://{cfg.domain}", ingress
