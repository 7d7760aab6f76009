"""Runs the real Trellis Pulumi program under Pulumi's mock runtime and records what it creates.

``run_stack(cfg)`` builds the stack with ``preview=False`` (so every Output resolves),
records each registered resource (type, name, inputs with secrets unwrapped, parent,
``protect``, ``depends_on``, ``ignore_changes``), the provider functions called, and the stack
outputs with their secrecy. Provider functions not in ``CALLS`` fail the run loudly; resource
outputs that real providers compute are filled in by ``_computed``. ``run_layers`` runs the layer
stacks of one environment in order, each reading the previous ones' recorded outputs through its
``StackReference``s, exactly as ``pulumi up`` per layer would, and merges what they created.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime.sync_await import _sync_await

from infra.config import StackConfig, environment_settings, load_config
from infra.layer import split_stack
from infra.stack import StackOutputs, build_stack

REPO = Path(__file__).resolve().parents[2]
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SPECIAL_KEY = "4dabf18193072939515e22adb298388d"
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"]
ZONE_IDS = ["use1-az1", "use1-az2", "use1-az3", "use1-az4"]  # us-east-1c is use1-az3, where EKS cannot go
S3_CIDRS = ["16.15.176.0/20", "52.216.0.0/15", "54.231.0.0/16"]
IMAGE_DIGEST = "sha256:" + "5e" * 32
# What an operator must set for prod (their networks and roles); the stack file ships without them.
PROD_OPERATOR_SETTINGS = {"cluster": {"publicAccessCidrs": ["100.64.10.0/24"],
                                      "adminRoleArns": ["arn:aws:iam::123456789012:role/platform-admin"]}}

def alb_suffix(args: dict[str, Any], kind: str = "app") -> str:
    """The ARN suffix of the controller's ALB (``app/...``) or target group matching the lookup's tags; its name
    is ``<cluster>.<group>``, so a test can tell what was looked up."""
    tags = args.get("tags") or {}
    group = str(tags.get("ingress.k8s.aws/stack", "")).replace("/", "-")
    return f"{kind}/{tags.get('elbv2.k8s.aws/cluster', '')}.{group}/{'7a' * 8}"


CALLS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": lambda a: {
        "id": "us-east-1", "names": ZONES, "zoneIds": ZONE_IDS},
    "aws:ec2/getManagedPrefixList:getManagedPrefixList": lambda a: {
        "id": "pl-63a5400a", "name": a["name"], "addressFamily": "IPv4",
        "entries": [{"cidr": c, "description": ""} for c in S3_CIDRS]},
    # The ALB and target group the AWS Load Balancer Controller made for an Ingress group, found by its tags.
    "aws:lb/getLoadBalancer:getLoadBalancer": lambda a: {
        "id": "lb", "arn": f"arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/{alb_suffix(a)}",
        "arnSuffix": alb_suffix(a), "tags": a["tags"]},
    "aws:lb/getTargetGroup:getTargetGroup": lambda a: {
        "id": "tg", "arnSuffix": alb_suffix(a, "targetgroup"), "tags": a["tags"]},
    "aws:ecr/getImage:getImage": lambda a: {
        "id": a["repositoryName"], "repositoryName": a["repositoryName"], "imageTag": a["imageTag"],
        "imageDigest": IMAGE_DIGEST, "imageTags": [a["imageTag"]]},
}


class DuplicateResource(AssertionError):
    """Two resources with one type and name in a stack: a real `pulumi up` fails on the duplicate URN."""


class UnexpectedCall(AssertionError):
    """The program called a provider function the mocks do not know: add it on purpose, or don't call it."""


def unwrap(value: Any) -> Any:
    """Inputs as a manifest: secret envelopes removed, integral floats (protobuf numbers) back to ints."""
    if isinstance(value, dict):
        if value.get(SPECIAL_KEY) == SECRET_SIG:
            return unwrap(value.get("value"))
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def secret_paths(value: Any, path: str = "") -> list[str]:
    """Where in ``value`` secret envelopes sit (used to prove secrets stay secret)."""
    if isinstance(value, dict):
        if value.get(SPECIAL_KEY) == SECRET_SIG:
            return [path]
        return [p for k, v in value.items() for p in secret_paths(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in secret_paths(v, f"{path}[{i}]")]
    return []


@dataclass
class Recorded:
    """One resource as the engine would have seen it."""

    type: str
    name: str
    inputs: dict[str, Any]
    raw: dict[str, Any]
    custom: bool
    provider: str | None = None
    protect: bool = False
    parent_type: str | None = None
    depends_on: list[str] = field(default_factory=list)
    ignore_changes: list[str] = field(default_factory=list)
    stack: str = ""

    @property
    def is_k8s_object(self) -> bool:
        return self.type.startswith("kubernetes:") and "kind" in self.inputs and "apiVersion" in self.inputs

    @property
    def kind(self) -> str:
        return str(self.inputs.get("kind", ""))


def _computed(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
    """Outputs real providers compute and the program reads."""
    name, t, inputs = args.name, args.typ, args.inputs
    arn = f"arn:aws:mock:us-east-1:123456789012:{name}"
    out: dict[str, Any] = {"arn": arn} if t.startswith("aws:") else {}
    if t == "aws:eks/cluster:Cluster":
        out.update(endpoint=f"https://{name}.eks.mock", certificateAuthority={"data": "bW9jay1jYQ=="},
                   identities=[{"oidcs": [{"issuer": f"https://oidc.eks.mock/id/{name}"}]}],
                   vpcConfig={**inputs.get("vpcConfig", {}), "clusterSecurityGroupId": f"sg-{name}"})
    elif t == "aws:rds/instance:Instance":  # identifier: auto-named from the resource name
        out.update(address=f"{name}.rds.mock", port=5432, endpoint=f"{name}.rds.mock:5432",
                   identifier=inputs.get("identifier") or f"{name}-4d5e6f")
    elif t == "aws:elasticache/replicationGroup:ReplicationGroup":
        out.update(primaryEndpointAddress=f"master.{name}.cache.mock")
    elif t == "aws:s3/bucket:Bucket":
        out.update(bucket=f"{name}-1a2b3c", arn=f"arn:aws:s3:::{name}-1a2b3c")
    elif t == "aws:ecr/repository:Repository":
        out.update(repositoryUrl=f"123456789012.dkr.ecr.mock/{name}", name=name)
    elif t == "aws:acm/certificate:Certificate":
        out.update(domainValidationOptions=[{
            "domainName": inputs["domainName"], "resourceRecordName": f"_x1.{inputs['domainName']}.",
            "resourceRecordType": "CNAME", "resourceRecordValue": "_x2.acm-validations.aws."}])
    elif t in _SIMPLE:
        out.update(_SIMPLE[t](name, inputs))
    return out


_SIMPLE: dict[str, Callable[[str, Any], dict[str, Any]]] = {
    # What Pulumi awaits for an Ingress: the load balancer the controller made for it.
    "kubernetes:networking.k8s.io/v1:Ingress": lambda name, _: {"status": {"loadBalancer": {"ingress": [
        {"hostname": f"k8s-{name}.us-east-1.elb.amazonaws.com"}]}}},
    "aws:route53/record:Record": lambda _, inputs: {"fqdn": str(inputs.get("name", "")).rstrip(".")},
    "aws:cloudwatch/logGroup:LogGroup": lambda name, inputs: {"name": inputs.get("name") or name},
    "aws:iam/role:Role": lambda name, _: {"name": f"{name}-role"},
    "aws:ec2/eip:Eip": lambda name, _: {"allocationId": f"eipalloc-{name}"},
    "random:index/randomPassword:RandomPassword": lambda name, inputs: {
        "result": f"MOCKSECRET{name.replace('-', '')}x{int(inputs.get('length', 16))}"},
}


@dataclass
class Exported:
    """A finished stack's outputs, as a later ``StackReference`` to it sees them."""

    outputs: dict[str, Any]
    secret: set[str]


class TrellisMocks(pulumi.runtime.Mocks):
    """Records registrations and answers provider calls from ``CALLS`` only; ``StackReference``s read ``stacks``."""

    def __init__(self, stacks: dict[str, Exported] | None = None) -> None:
        self.resources: list[Recorded] = []
        self.calls: list[str] = []
        self.stacks = stacks or {}
        self.references: list[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if args.typ == "pulumi:pulumi:StackReference":
            name = str(args.inputs["name"])
            self.references.append(name)
            stack = name.rsplit("/", 1)[-1]
            if stack not in self.stacks:  # `up` of a layer before the layers it reads: a real run fails too
                raise UnexpectedCall(f"StackReference to {name}, which has not been deployed")
            done = self.stacks[stack]
            return name, {"name": name, "outputs": done.outputs, "secretOutputNames": sorted(done.secret)}
        if any(r.type == args.typ and r.name == args.name for r in self.resources):  # the engine's URN check
            raise DuplicateResource(f"{args.typ} {args.name} registered twice in one stack")
        self.resources.append(Recorded(args.typ, args.name, unwrap(dict(args.inputs)), dict(args.inputs),
                                       bool(args.custom), args.provider))
        return f"{args.name}-id", {**dict(args.inputs), **_computed(args)}

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        self.calls.append(args.token)
        if args.token not in CALLS:
            raise UnexpectedCall(args.token)
        return CALLS[args.token](dict(args.args))


@dataclass
class StackRun:
    """The result of one mocked ``pulumi up``."""

    config: StackConfig
    resources: list[Recorded]
    calls: list[str]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    references: list[str] = field(default_factory=list)
    layers: list[StackRun] = field(default_factory=list)  # the layer runs merged into this one (layered envs)

    def of_type(self, type_: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, suffix: str = "") -> Recorded:
        found = [r for r in self.of_type(type_) if r.name.endswith(suffix)]
        assert len(found) == 1, f"expected one {type_} named *{suffix}, found {[r.name for r in found]}"
        return found[0]

    def k8s(self, kind: str | None = None) -> list[Recorded]:
        return [r for r in self.resources if r.is_k8s_object and (kind is None or r.kind == kind)]

    def k8s_named(self, kind: str, name: str) -> dict[str, Any]:
        found = [r.inputs for r in self.k8s(kind) if r.inputs["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
        return found[0]

    def manifests(self) -> Iterator[dict[str, Any]]:
        return (r.inputs for r in self.k8s())

    @property
    def custom_count(self) -> int:
        return sum(1 for r in self.resources if r.custom)


def _record_options(mocks: TrellisMocks) -> None:
    """A stack transformation sees each resource's options, which mocks do not: keep protect/parent/depends_on."""
    options: dict[tuple[str, str], tuple[bool, str | None, list[str], list[str]]] = {}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        opts = args.opts
        deps = [getattr(d, "_name", "") for d in (opts.depends_on or []) if isinstance(d, pulumi.Resource)]
        parent = getattr(opts.parent, "_type", None) if opts.parent else None
        options[(args.type_, args.name)] = (bool(opts.protect), parent, deps, list(opts.ignore_changes or []))
        return None

    pulumi.runtime.register_stack_transformation(record)
    mocks.options = options  # type: ignore[attr-defined]


def run_stack(cfg: StackConfig, stack: str | None = None, deployed: dict[str, Exported] | None = None) -> StackRun:
    """Build ``cfg``'s stack under fresh mocks (``deployed``: stacks its references may read); returns what ran."""
    mocks = TrellisMocks(deployed)
    stack = stack or cfg.environment
    pulumi.runtime.set_mocks(mocks, project="trellis", stack=stack, preview=False, organization="organization")
    holder: dict[str, StackOutputs] = {}

    def program() -> pulumi.Output[Any]:
        _record_options(mocks)
        holder["out"] = build_stack(cfg)
        values = {k: v for k, v in holder["out"].as_dict().items() if v is not None}
        return pulumi.Output.all(**{k: pulumi.Output.from_input(v) for k, v in values.items()})

    pulumi.runtime.test(program)()
    outputs, secret = {}, set()
    for key, value in holder["out"].as_dict().items():
        if value is None:
            continue
        out = pulumi.Output.from_input(value)
        outputs[key] = _sync_await(out.future())
        if _sync_await(out.is_secret()):
            secret.add(key)
    for rec in mocks.resources:
        rec.protect, rec.parent_type, rec.depends_on, rec.ignore_changes = mocks.options.get(  # type: ignore[attr-defined]
            (rec.type, rec.name), (False, None, [], []))
        rec.stack = stack
    return StackRun(cfg, mocks.resources, mocks.calls, outputs, secret, mocks.references)


def run_layers(environment: str, extra: dict[str, str] | None = None, secret_keys: list[str] | None = None,
               layer_extra: dict[str, dict[str, str]] | None = None) -> StackRun:
    """``pulumi up`` of ``<env>-cluster``, ``-data``, ``-addons``, ``-app`` in order, as the Makefile runs them.

    Each layer stack gets the environment file's settings (as the entry point reads them) and ``extra`` (plus
    ``layer_extra[layer]``) as its own config, and reads earlier layers through StackReferences. Returns every
    layer's resources merged.
    """
    from infra.layer import LAYER_ORDER, stack_name

    deployed: dict[str, Exported] = {}
    runs = []
    for layer in LAYER_ORDER:
        name = stack_name(environment, layer)
        cfg = load_stack_config(name, {**(extra or {}), **(layer_extra or {}).get(layer.value, {})}, secret_keys)
        run = run_stack(cfg, name, deployed)
        deployed[name] = Exported(run.outputs, run.secret_outputs)
        runs.append(run)
    return StackRun(
        runs[-1].config, [r for run in runs for r in run.resources], [c for run in runs for c in run.calls],
        {k: v for run in runs for k, v in run.outputs.items()}, {k for run in runs for k in run.secret_outputs},
        [ref for run in runs for ref in run.references], runs,
    )


def stack_file_config(stack: str) -> dict[str, str]:
    """``Pulumi.<stack>.yaml`` as the flat ``namespace:key -> string`` map the engine hands a program."""
    raw = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}


def load_stack_config(stack: str, extra: dict[str, str] | None = None,
                      secret_keys: list[str] | None = None) -> StackConfig:
    """The ``StackConfig`` the real entry point would build for ``stack``: ``Pulumi.<stack>.yaml`` as the stack's
    config for a whole-environment stack; for a layer stack ``<env>-<layer>`` (no file of its own here) the
    environment file's settings under ``extra`` as the stack's own config."""
    environment, layer = split_stack(stack)
    own = {**({} if layer else stack_file_config(stack)), **(extra or {})}
    base = environment_settings(REPO / f"Pulumi.{environment}.yaml") if layer else None
    pulumi.runtime.set_all_config(own, secret_keys or [])
    try:
        return load_config(pulumi.Config("trellis"), environment, layer, base)
    finally:
        pulumi.runtime.set_all_config({}, [])
