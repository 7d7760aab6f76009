"""PublicEndpoint: the AWS side of the API's public address (app layer): its TLS certificate and WAF.

Owns an ACM certificate for ``domain`` (DNS-validated: with ``hosted_zone_id`` the validation
records are created in Route 53 and the certificate is awaited; without it the records are an
output to create by hand) unless ``certificate_arn`` is given, and with ``waf`` a regional WAFv2
web ACL: AWS managed common and known-bad-inputs rule groups plus a per-IP rate-based rule.
Outputs: ``certificate_arn``, ``web_acl_arn`` (None without WAF), ``validation_records``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

__all__ = ["PublicEndpoint", "PublicEndpointArgs"]

_MANAGED_RULES = ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet")


@dataclass(frozen=True)
class PublicEndpointArgs:
    domain: str
    hosted_zone_id: str | None
    certificate_arn: str | None
    waf: bool
    requests_per_5min: int

    def validate(self) -> None:
        if not 100 <= self.requests_per_5min <= 2_000_000_000:
            raise ValueError("the WAF rate limit must be 100..2e9 requests per 5 minutes")


def _visibility(metric: str) -> dict[str, object]:
    return {"cloudwatch_metrics_enabled": True, "metric_name": metric, "sampled_requests_enabled": True}


class PublicEndpoint(pulumi.ComponentResource):
    """ACM certificate (+ validation) and the optional WAF web ACL of the API's ALB."""

    certificate_arn: pulumi.Output[str]
    web_acl_arn: pulumi.Output[str] | None
    validation_records: pulumi.Output[list[dict[str, str]]]

    def __init__(self, name: str, args: PublicEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        args.validate()
        super().__init__("trellis:infra:PublicEndpoint", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.validation_records = pulumi.Output.from_input([])
        if args.certificate_arn:
            self.certificate_arn = pulumi.Output.from_input(args.certificate_arn)
        else:
            self.certificate_arn = self._certificate(name, args, child)
        self.web_acl_arn = self._web_acl(name, args, child) if args.waf else None
        self.register_outputs({"certificate_arn": self.certificate_arn})

    def _certificate(self, name: str, args: PublicEndpointArgs, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
        cert = aws.acm.Certificate(f"{name}-cert", domain_name=args.domain, validation_method="DNS",
                                   opts=opts)
        options = cert.domain_validation_options
        self.validation_records = options.apply(lambda opts_: [
            {"name": o.resource_record_name, "type": o.resource_record_type, "value": o.resource_record_value}
            for o in opts_ or []])
        if not args.hosted_zone_id:
            return cert.arn
        record = aws.route53.Record(
            f"{name}-cert-validation", zone_id=args.hosted_zone_id, ttl=300, allow_overwrite=True,
            name=options.apply(lambda o: o[0].resource_record_name),
            type=options.apply(lambda o: o[0].resource_record_type),
            records=[options.apply(lambda o: o[0].resource_record_value)], opts=opts)
        done = aws.acm.CertificateValidation(f"{name}-cert-validation", certificate_arn=cert.arn,
                                             validation_record_fqdns=[record.fqdn], opts=opts)
        return done.certificate_arn

    @staticmethod
    def _web_acl(name: str, args: PublicEndpointArgs, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
        rules: list[dict[str, object]] = [
            {"name": group, "priority": i, "override_action": {"none": {}},
             "statement": {"managed_rule_group_statement": {"vendor_name": "AWS", "name": group}},
             "visibility_config": _visibility(group)}
            for i, group in enumerate(_MANAGED_RULES)
        ]
        rules.append({"name": "per-ip-rate", "priority": len(rules), "action": {"block": {}},
                      "statement": {"rate_based_statement": {"limit": args.requests_per_5min,
                                                             "aggregate_key_type": "IP"}},
                      "visibility_config": _visibility("per-ip-rate")})
        acl = aws.wafv2.WebAcl(f"{name}-waf", scope="REGIONAL", default_action={"allow": {}}, rules=rules,
                               visibility_config=_visibility(f"{name}-waf"), opts=opts)
        return acl.arn
