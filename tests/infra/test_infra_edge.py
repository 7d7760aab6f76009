"""Issue 15 items 2-4: a maintained ingress (AWS Load Balancer Controller + ALB + ACM, WAF in prod) with no spoofable
forwarded headers; metrics and readiness never public; a rate limit configured; egress to the model provider from the
API and to the internet (never the VPC) from the worker."""

from __future__ import annotations

import json

import pulumi
import pytest
from infra_harness import StackRun, TrellisMocks

from infra.endpoint import PublicEndpoint, PublicEndpointArgs
from infra.platform.addons import CHARTS
from infra.platform.spec import API_PORT, METRICS_PORT
from infra.policy.rules import STACK_RULES

RELEASE = "kubernetes:helm.sh/v3:Release"


def test_no_ingress_nginx_and_the_alb_controller_is_installed(aws_stack: StackRun) -> None:
    charts = {r.inputs["chart"] for r in aws_stack.of_type(RELEASE)}
    assert "ingress-nginx" not in charts
    assert "use-forwarded-headers" not in json.dumps([r.inputs for r in aws_stack.of_type(RELEASE)])
    (lbc,) = [r.inputs for r in aws_stack.of_type(RELEASE) if r.inputs["chart"] == "aws-load-balancer-controller"]
    assert lbc["version"] == CHARTS["load_balancer"].version
    assert lbc["values"]["clusterName"] == aws_stack.one("aws:eks/cluster:Cluster").inputs["name"]
    assert lbc["values"]["vpcId"] == aws_stack.one("aws:ec2/vpc:Vpc").name + "-id"
    role = aws_stack.one("aws:iam/role:Role", "load_balancer-role")
    assert "system:serviceaccount:kube-system:aws-load-balancer-controller" in role.inputs["assumeRolePolicy"]


def test_api_is_served_by_an_alb_with_acm_tls(aws_stack: StackRun) -> None:
    ing = aws_stack.k8s_named("Ingress", "trellis")
    ann = ing["metadata"]["annotations"]
    assert ing["spec"]["ingressClassName"] == "alb"
    assert ann["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert ann["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
    cert = aws_stack.one("aws:acm/certificate:Certificate")
    assert cert.inputs["domainName"] == aws_stack.config.domain and cert.inputs["validationMethod"] == "DNS"
    assert ann["alb.ingress.kubernetes.io/certificate-arn"].endswith(cert.name)
    attributes = ann["alb.ingress.kubernetes.io/load-balancer-attributes"]
    assert "idle_timeout.timeout_seconds=3600" in attributes  # SSE streams
    assert "routing.http.drop_invalid_header_fields.enabled=true" in attributes
    assert aws_stack.outputs["api_url"] == f"https://{aws_stack.config.domain}"


def test_forwarded_for_is_trusted_for_exactly_the_alb(aws_stack: StackRun) -> None:
    # The ALB appends the peer address; the app reads that last entry only, so a client-sent header is ignored.
    ann = aws_stack.k8s_named("Ingress", "trellis")["metadata"]["annotations"]
    assert "routing.http.xff_header_processing.mode=append" in ann["alb.ingress.kubernetes.io/load-balancer-attributes"]
    assert aws_stack.k8s_named("ConfigMap", "trellis-config")["data"]["TRUSTED_PROXY_HOPS"] == "1"


def test_prod_has_a_waf_with_a_per_ip_rate_limit(prod: StackRun, dev: StackRun) -> None:
    acl = prod.one("aws:wafv2/webAcl:WebAcl")
    rate = [r for r in acl.inputs["rules"] if "rateBasedStatement" in r["statement"]]
    assert rate[0]["statement"]["rateBasedStatement"]["limit"] == prod.config.features.waf_rate_limit
    assert rate[0]["action"] == {"block": {}}
    ann = prod.k8s_named("Ingress", "trellis")["metadata"]["annotations"]
    assert ann["alb.ingress.kubernetes.io/wafv2-acl-arn"].endswith(acl.name)
    assert not dev.of_type("aws:wafv2/webAcl:WebAcl")


def _endpoint(args: PublicEndpointArgs) -> TrellisMocks:
    mocks = TrellisMocks()
    pulumi.runtime.set_mocks(mocks, project="trellis", stack="t", preview=False)
    pulumi.runtime.test(lambda: PublicEndpoint("t", args).certificate_arn)()
    return mocks


def test_certificate_is_validated_in_route53_when_the_zone_is_known() -> None:
    types = [r.type for r in _endpoint(PublicEndpointArgs("api.example.org", "Z123", None, False, 2000)).resources]
    assert {"aws:route53/record:Record", "aws:acm/certificateValidation:CertificateValidation"} <= set(types)
    manual = [r.type for r in _endpoint(PublicEndpointArgs("api.example.org", None, None, False, 2000)).resources]
    assert "aws:route53/record:Record" not in manual and "aws:acm/certificate:Certificate" in manual
    byo = PublicEndpointArgs("api.example.org", None, "arn:aws:acm:x", False, 2000)
    own = [r.type for r in _endpoint(byo).resources]
    assert "aws:acm/certificate:Certificate" not in own  # bring your own certificate


def test_metrics_and_ready_are_not_routed(any_stack: StackRun) -> None:
    routed = {(p["path"], p["backend"]["service"]["name"], json.dumps(p["backend"]["service"]["port"]))
              for rule in any_stack.k8s_named("Ingress", "trellis")["spec"]["rules"] for p in rule["http"]["paths"]}
    assert all(service != "trellis-api" for path, service, _ in routed if path in ("/metrics", "/ready"))
    api_service = any_stack.k8s_named("Service", "trellis-api")["spec"]["ports"]
    assert [p["targetPort"] for p in api_service] == ["http"]  # the routed Service has no metrics port
    metrics_service = any_stack.k8s_named("Service", "trellis-api-metrics")["spec"]["ports"]
    assert [(p["name"], p["port"]) for p in metrics_service] == [("metrics", METRICS_PORT)]
    assert any_stack.k8s_named("ConfigMap", "trellis-config")["data"]["METRICS_PORT"] == str(METRICS_PORT)
    for run in any_stack.layers or [any_stack]:
        assert STACK_RULES["metrics-not-public"]([(r.type, r.inputs) for r in run.resources]) == []


def test_alb_blocks_metrics_and_ready_at_the_edge(aws_stack: StackRun) -> None:
    ing = aws_stack.k8s_named("Ingress", "trellis")
    blocked = [p["path"] for p in ing["spec"]["rules"][0]["http"]["paths"]
               if p["backend"]["service"]["port"] == {"name": "use-annotation"}]
    assert blocked == ["/metrics", "/ready"]
    action = json.loads(ing["metadata"]["annotations"]["alb.ingress.kubernetes.io/actions.blocked"])
    assert action["fixedResponseConfig"]["statusCode"] == "404"


def test_a_rate_limit_is_configured(any_stack: StackRun) -> None:
    data = any_stack.k8s_named("ConfigMap", "trellis-config")["data"]
    assert float(data["RATE_LIMIT_PER_SECOND"]) == any_stack.config.api.rate_limit_per_second > 0
    assert int(data["RATE_LIMIT_BURST"]) >= 1


def _egress(run: StackRun, name: str) -> dict:
    return run.k8s_named("NetworkPolicy", name)["spec"]["egress"][0]


@pytest.mark.parametrize("policy", ["trellis-api-model-egress", "trellis-worker-internet-egress"])
def test_internet_egress_excludes_the_vpc(aws_stack: StackRun, policy: str) -> None:
    block = _egress(aws_stack, policy)["to"][0]["ipBlock"]
    assert block["cidr"] == "0.0.0.0/0"
    assert aws_stack.config.network.cidr in block["except"] and "169.254.169.254/32" in block["except"]


def test_api_can_reach_the_model_provider(any_stack: StackRun) -> None:
    # /datasets/{id}/retrieve and hit-testing embed the query in the API process.
    rule = _egress(any_stack, "trellis-api-model-egress")
    assert [p["port"] for p in rule["ports"]] == [443]
    ingress = any_stack.k8s_named("NetworkPolicy", "trellis-api-ingress")["spec"]["ingress"]
    assert {p["port"] for rule in ingress for p in rule["ports"]} == {API_PORT, METRICS_PORT}


def test_rollouts_do_not_drop_alb_traffic(aws_stack: StackRun) -> None:
    ns = aws_stack.k8s_named("Namespace", aws_stack.config.namespace)["metadata"]["labels"]
    assert ns["elbv2.k8s.aws/pod-readiness-gate-inject"] == "enabled"  # new pods count only once the ALB sees them
    ann = aws_stack.k8s_named("Ingress", "trellis")["metadata"]["annotations"]
    delay = int(ann["alb.ingress.kubernetes.io/target-group-attributes"].split("=")[1])
    api = aws_stack.k8s_named("Deployment", "trellis-api")["spec"]["template"]["spec"]
    sleep = api["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert delay < sleep < api["terminationGracePeriodSeconds"]
