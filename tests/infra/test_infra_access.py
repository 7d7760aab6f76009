"""Issue 15 item 7: one least-privilege IAM role per workload, backups in their own bucket, container logs shipped to
CloudWatch Logs (or left to Container Insights), Prometheus on a PersistentVolume, images by digest, and the
Pulumi.yaml config schema."""

from __future__ import annotations

import dataclasses
import json
import typing

import yaml
from infra_harness import IMAGE_DIGEST, REPO, Exported, StackRun, run_stack

from infra.config import _SCALAR_KEYS, StackConfig
from infra.layer import Layer
from infra.platform.addons import STORAGE_CLASS
from infra.specs import FeaturesConfig, LogShipping

RELEASE = "kubernetes:helm.sh/v3:Release"


def _policy(run: StackRun, suffix: str) -> list[dict]:
    return json.loads(run.one("aws:iam/rolePolicy:RolePolicy", suffix).inputs["policy"])["Statement"]


def _actions(statements: list[dict]) -> set[str]:
    return {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}


def test_each_workload_has_its_own_service_account_and_role(aws_stack: StackRun) -> None:
    ns = aws_stack.config.namespace
    for component in ("api", "worker", "backup"):
        role = aws_stack.one("aws:iam/role:Role", f"platform-{component}-role")
        assert f"system:serviceaccount:{ns}:trellis-{component}" in role.inputs["assumeRolePolicy"]
        sa = aws_stack.k8s_named("ServiceAccount", f"trellis-{component}")
        assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(role.name)
    assert not aws_stack.k8s_named("ServiceAccount", "trellis-migrate")["metadata"]["annotations"]  # no AWS at all
    pods = {name: aws_stack.k8s_named(kind, name)["spec"] for kind, name in (
        ("Deployment", "trellis-api"), ("Deployment", "trellis-worker"), ("CronJob", "trellis-backup"))}
    assert pods["trellis-api"]["template"]["spec"]["serviceAccountName"] == "trellis-api"
    assert pods["trellis-worker"]["template"]["spec"]["serviceAccountName"] == "trellis-worker"
    backup = pods["trellis-backup"]["jobTemplate"]["spec"]["template"]["spec"]
    assert backup["serviceAccountName"] == "trellis-backup"


def test_backup_role_can_only_add_dumps_to_the_backups_bucket(aws_stack: StackRun) -> None:
    statements = _policy(aws_stack, "platform-backup-policy")
    assert _actions(statements) == {"s3:PutObject", "s3:AbortMultipartUpload", "kms:GenerateDataKey"}
    backups = aws_stack.one("aws:s3/bucket:Bucket", "storage-backups-bucket").name
    assert statements[0]["Resource"].endswith(f"{backups}-1a2b3c/backups/{aws_stack.config.environment}/*")


def test_app_roles_never_touch_backups(aws_stack: StackRun) -> None:
    for component in ("api", "worker"):
        text = json.dumps(_policy(aws_stack, f"platform-{component}-policy"))
        assert "backups" not in text and '"s3:*"' not in text and "storage-bucket-1a2b3c/*" in text


def test_backups_go_to_their_own_bucket_and_expire(aws_stack: StackRun) -> None:
    cron = aws_stack.k8s_named("CronJob", "trellis-backup")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in cron["containers"][0]["env"]}
    assert env["BUCKET"] == aws_stack.outputs["backup_bucket_name"] != aws_stack.outputs["bucket_name"]
    rules = aws_stack.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                          "backups-lifecycle").inputs["rules"]
    assert rules[0]["expiration"]["days"] == aws_stack.config.storage.backup_retention_days


def test_container_logs_go_to_one_log_group(aws_stack: StackRun) -> None:
    (bit,) = [r.inputs for r in aws_stack.of_type(RELEASE) if r.inputs["chart"] == "aws-for-fluent-bit"]
    group = aws_stack.one("aws:cloudwatch/logGroup:LogGroup", "addons-containers")
    logs = bit["values"]["cloudWatchLogs"]
    assert logs["enabled"] and logs["logGroupName"] == group.inputs["name"] and not logs["autoCreateGroup"]
    # Pod logs: the environment's retention (trellis:monitoring.logRetentionDays, dev 7, prod 90), whoever ships them.
    assert group.inputs["retentionInDays"] == aws_stack.config.monitoring_settings.log_retention_days
    assert group.inputs["retentionInDays"] == (90 if aws_stack.config.is_prod else 7)
    # One shipper: Container Insights keeps its metrics but ships no logs while Fluent Bit does.
    addon = _insights_addon(aws_stack)
    assert json.loads(addon["configurationValues"]) == {"containerLogs": {"enabled": False}}
    groups = {g.inputs["name"].rsplit("/", 1)[1] for g in aws_stack.of_type("aws:cloudwatch/logGroup:LogGroup")
              if "/containerinsights/" in g.inputs["name"]}
    assert groups == {"performance"}
    assert _actions(_policy(aws_stack, "addons-logs-policy")) == {
        "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"}


def test_container_insights_hook_installs_no_fluent_bit(dev: StackRun) -> None:
    features = dataclasses.replace(dev.config.features, log_shipping=LogShipping.CONTAINER_INSIGHTS)
    cfg = dataclasses.replace(dev.config, features=features, layer=Layer.ADDONS)
    run = run_stack(cfg, "dev-addons", {"dev-cluster": Exported(dev.outputs, dev.secret_outputs)})
    charts = {r.inputs["chart"] for r in run.of_type(RELEASE)}
    assert "aws-for-fluent-bit" not in charts and "aws-load-balancer-controller" in charts
    # The add-on ships the logs instead, into groups the program made with the environment's retention.
    assert json.loads(_insights_addon(run)["configurationValues"]) == {"containerLogs": {"enabled": True}}
    groups = run.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert {g.inputs["name"] for g in groups} == {f"/aws/containerinsights/{dev.outputs['cluster_name']}/{kind}"
                                                  for kind in ("application", "dataplane", "host", "performance")}
    assert {g.inputs["retentionInDays"] for g in groups} == {7}


def _insights_addon(run: StackRun) -> dict:
    (addon,) = [a.inputs for a in run.of_type("aws:eks/addon:Addon")
                if a.inputs["addonName"] == "amazon-cloudwatch-observability"]
    assert addon["serviceAccountRoleArn"].endswith("insights-agent-role")
    return addon


def test_prometheus_keeps_its_data_on_a_gp3_volume(aws_stack: StackRun) -> None:
    (stack,) = [r.inputs for r in aws_stack.of_type(RELEASE) if r.inputs["chart"] == "kube-prometheus-stack"]
    spec = stack["values"]["prometheus"]["prometheusSpec"]
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    gb = aws_stack.config.features.prometheus_storage_gb
    assert claim["storageClassName"] == STORAGE_CLASS and claim["resources"]["requests"]["storage"] == f"{gb}Gi"
    assert int(spec["retentionSize"].removesuffix("GB")) < gb  # the TSDB never fills its volume
    sc = aws_stack.k8s_named("StorageClass", STORAGE_CLASS)
    assert sc["provisioner"] == "ebs.csi.aws.com" and sc["parameters"]["encrypted"] == "true"
    assert sc["reclaimPolicy"] == ("Retain" if aws_stack.config.is_prod else "Delete")  # dev teardown leaves no disks
    csi = [a for a in aws_stack.of_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "aws-ebs-csi-driver"]
    assert csi[0].inputs["serviceAccountRoleArn"].endswith("ebs-csi")


def test_prod_deploys_the_image_by_digest(prod: StackRun, dev: StackRun) -> None:
    for name in ("trellis-api", "trellis-worker"):
        image = prod.k8s_named("Deployment", name)["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image.endswith(f":{prod.config.image_tag}@{IMAGE_DIGEST}")
    assert prod.outputs["image"].endswith(IMAGE_DIGEST)
    # dev (one stack, registry created in the same update): the immutable tag, unless a digest is configured
    assert "@" not in dev.k8s_named("Deployment", "trellis-api")["spec"]["template"]["spec"]["containers"][0]["image"]


def test_pulumi_yaml_declares_the_scalar_settings_with_types_and_defaults() -> None:
    declared = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
    hints = typing.get_type_hints(StackConfig)
    defaults = {f.name: f.default for f in dataclasses.fields(StackConfig)}
    own = {k: v for k, v in declared.items() if ":" not in k}  # the rest configures the engine or providers
    for key, decl in own.items():
        assert key in _SCALAR_KEYS and decl["description"]
        name = "".join("_" + c.lower() if c.isupper() else c for c in key)
        assert decl["type"] == "string" and issubclass(hints[name], str)  # str, or a StrEnum like Mode
        assert str(decl["default"]) == str(defaults[name])  # the schema's default is the program's default
    assert {"mode", "region", "domain"} <= set(own) and "imageTag" not in own


def test_features_default_to_the_maintained_path() -> None:
    features = FeaturesConfig()
    assert features.ingress_class == "alb" and not features.cert_manager
    assert features.log_shipping is LogShipping.FLUENT_BIT and features.prometheus_storage_gb > 0
