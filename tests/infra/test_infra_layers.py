"""Issue 15 items 5-6: day-2 traps (engine versions, prod endpoint access from config, operator access entries, EKS
zones, a first `up` without --target) and the layered stacks: each layer holds only its own resources and reads the
ones before it through StackReferences."""

from __future__ import annotations

import dataclasses
import ipaddress
import json

import pulumi
import pytest
from infra_harness import REPO, ZONES, StackRun, load_stack_config, run_stack

from infra.config import ConfigError, load_config
from infra.layer import LAYER_ORDER, Layer, split_stack
from infra.network import pick_zones
from infra.specs import DOCUMENTATION_NETWORKS, DatabaseConfig

AWS_DATA = ("aws:rds/instance:Instance", "aws:elasticache/replicationGroup:ReplicationGroup", "aws:s3/bucket:Bucket",
            "aws:ecr/repository:Repository")
AWS_BASE = ("aws:ec2/vpc:Vpc", "aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup")


def test_rds_pins_the_major_version_only(aws_stack: StackRun) -> None:
    db = aws_stack.one("aws:rds/instance:Instance").inputs
    assert db["engineVersion"] == "16" and db["autoMinorVersionUpgrade"] is True
    assert aws_stack.one("aws:rds/parameterGroup:ParameterGroup").inputs["family"] == "postgres16"
    backup = aws_stack.k8s_named("CronJob", "trellis-backup")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert backup["initContainers"][0]["image"] == "postgres:16-bookworm"  # pg_dump follows the server's major


@pytest.mark.parametrize("version", ["16.6", "16.6.1", "15"])
def test_a_minor_or_old_engine_version_is_refused(version: str) -> None:
    assert DatabaseConfig(engine_version=version).problems()


def test_prod_needs_its_operators_networks_and_roles() -> None:
    with pytest.raises(ConfigError, match="publicAccessCidrs.*adminRoleArns"):
        load_stack_config("prod-cluster")  # the shipped file names neither: the operator must
    for layer in ("data", "addons", "app"):  # set on prod-cluster only, so the other layers must not ask for them
        assert load_stack_config(f"prod-{layer}").layer


@pytest.mark.parametrize("cidr", ["203.0.113.0/24", "198.51.100.8/29", "192.0.2.1/32"])
def test_documentation_ranges_are_refused_everywhere(cidr: str) -> None:
    with pytest.raises(ConfigError, match="documentation range"):
        load_stack_config("dev", {"trellis:cluster": json.dumps({"publicAccessCidrs": [cidr]})})


def test_no_stack_file_ships_a_documentation_range() -> None:
    for path in REPO.glob("Pulumi*.yaml"):
        for token in path.read_text().replace(",", " ").replace("[", " ").replace("]", " ").split():
            try:
                net = ipaddress.ip_network(token.strip("'\""), strict=False)
            except ValueError:
                continue
            assert not any(net.version == d.version and net.subnet_of(d) for d in DOCUMENTATION_NETWORKS), path


def test_prod_endpoint_and_admin_access_come_from_config(prod: StackRun) -> None:
    cluster = prod.layers[0].config.cluster  # the operator's settings live on prod-cluster only
    vpc = prod.one("aws:eks/cluster:Cluster").inputs["vpcConfig"]
    assert vpc["publicAccessCidrs"] == list(cluster.public_access_cidrs) == ["100.64.10.0/24"]
    (arn,) = cluster.admin_role_arns
    (entry,) = [e.inputs for e in prod.of_type("aws:eks/accessEntry:AccessEntry") if e.inputs["principalArn"] == arn]
    (assoc,) = prod.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert assoc.inputs["principalArn"] == arn and assoc.inputs["accessScope"] == {"type": "cluster"}
    assert assoc.inputs["policyArn"].endswith("/AmazonEKSClusterAdminPolicy") and entry["type"] == "STANDARD"


def test_zones_skip_the_ones_eks_does_not_support(aws_stack: StackRun) -> None:
    zones = {s.inputs["availabilityZone"] for s in aws_stack.of_type("aws:ec2/subnet:Subnet")}
    assert zones == {"us-east-1a", "us-east-1b", "us-east-1d"}  # us-east-1c is use1-az3 in the mocks
    with pytest.raises(ValueError, match="EKS-supported"):
        pick_zones(ZONES[:3], ["use1-az1", "use1-az3", "use1-az2"], 3)


def test_each_layer_holds_only_its_own_resources(prod: StackRun) -> None:
    by_layer = {split_stack(run.resources[0].stack)[1]: {r.type for r in run.resources} for run in prod.layers}
    assert list(by_layer) == list(LAYER_ORDER)
    assert set(AWS_BASE) <= by_layer[Layer.CLUSTER] and not set(AWS_DATA) & by_layer[Layer.CLUSTER]
    assert set(AWS_DATA) <= by_layer[Layer.DATA] and not set(AWS_BASE) & by_layer[Layer.DATA]
    assert not any(t.startswith(("kubernetes:", "pulumi:providers:kubernetes")) for t in by_layer[Layer.DATA])
    # An update of the app can touch neither the network, the cluster nor a data store: they are not in its stack.
    assert not (set(AWS_BASE) | set(AWS_DATA)) & (by_layer[Layer.APP] | by_layer[Layer.ADDONS])
    assert "kubernetes:apps/v1:Deployment" in by_layer[Layer.APP]


def test_layers_read_the_ones_before_them(prod: StackRun) -> None:
    refs = {split_stack(run.resources[0].stack)[1]: run.references for run in prod.layers}
    assert refs[Layer.CLUSTER] == []
    assert refs[Layer.DATA] == refs[Layer.ADDONS] == ["organization/trellis/prod-cluster"]
    assert refs[Layer.APP] == ["organization/trellis/prod-cluster", "organization/trellis/prod-data"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the aborted run leaves un-awaited outputs behind
def test_an_app_layer_before_its_data_layer_fails() -> None:
    cfg = load_stack_config("prod-app")
    with pytest.raises(Exception, match="has not been deployed"):
        run_stack(cfg, "prod-app", {})


def test_the_environment_file_wins_but_the_release_is_per_stack() -> None:
    base = {"domain": "env.example.org", "imageTag": "1.0.0", "cluster": {"version": "1.33"}}
    own = {"trellis:domain": "trellis.localhost", "trellis:imageTag": "1.1.0",
           "trellis:cluster": json.dumps({"developerRoleArns": ["arn:aws:iam::123456789012:role/dev"]})}
    pulumi.runtime.set_all_config(own, [])
    try:
        cfg = load_config(pulumi.Config("trellis"), "dev", Layer.APP, base)
    finally:
        pulumi.runtime.set_all_config({}, [])
    assert cfg.domain == "env.example.org"  # a project default in the stack's config never shadows the file
    assert cfg.image_tag == "1.1.0"  # CI and `make deploy TAG=` set the release on the app stack
    assert cfg.cluster.version == "1.33" and cfg.cluster.developer_role_arns  # objects merge key by key
    assert cfg.layer is Layer.APP


def test_validation_still_guards_layer_stacks(prod: StackRun) -> None:
    with pytest.raises(ConfigError, match="prod database"):
        dataclasses.replace(prod.config, database=DatabaseConfig(multi_az=False)).validate()


def test_prod_refuses_to_run_as_one_stack(prod: StackRun) -> None:
    with pytest.raises(ConfigError, match="layer stacks"):
        dataclasses.replace(prod.config, layer=None).validate()
