"""The program as a whole: outputs, secrecy, component structure, resource counts, the entry point."""

from __future__ import annotations

import ast
import json

import pytest
from infra_harness import REPO, StackRun

from infra.config import StackConfig
from infra.network import Network, NetworkArgs
from infra.stack import build_stack


def test_outputs_present_and_credentials_secret(aws_stack: StackRun, local: StackRun) -> None:
    assert {"api_url", "namespace", "image", "database_endpoint", "redis_endpoint", "bucket_name",
            "backup_bucket_name", "kubeconfig", "vpc_id", "oidc_issuer"} <= set(aws_stack.outputs)
    # What later layers need and must not show: exported, but only as secrets.
    assert aws_stack.secret_outputs == {"kubeconfig", "database_url", "redis_url", "redis_auth_token"}
    assert json.loads(aws_stack.outputs["kubeconfig"])["kind"] == "Config"
    assert "kubeconfig" not in local.outputs and local.outputs["bucket_name"] == "trellis"


def _secret_values(run: StackRun) -> set[str]:
    """The values the mocks generated for every RandomPassword (see ``_computed``), plus the configured key."""
    values = {f"MOCKSECRET{r.name.replace('-', '')}x{r.inputs['length']}"
              for r in run.resources if r.type == "random:index/randomPassword:RandomPassword"}
    assert values
    return values | {"sk-test-openai-key-not-real"}


def test_no_plaintext_secret_in_any_output(any_stack: StackRun) -> None:
    exported = json.dumps({k: v for k, v in any_stack.outputs.items() if k not in any_stack.secret_outputs})
    for secret in _secret_values(any_stack):
        assert secret not in exported


def test_secrets_reach_kubernetes_only_as_secret_values(any_stack: StackRun) -> None:
    from infra_harness import secret_paths

    env = [r for r in any_stack.k8s("Secret") if r.inputs["metadata"]["name"] == "trellis-env"][0]
    assert {"DATABASE_URL", "REDIS_URL", "ADMIN_TOKEN", "SECRET_KEY", "OPENAI_API_KEY"} <= set(
        env.inputs["stringData"])
    paths = set(secret_paths(env.raw))
    assert all(".stringData" in paths or f".stringData.{key}" in paths for key in env.inputs["stringData"])
    config = json.dumps([r.inputs for r in any_stack.k8s("ConfigMap")])
    for secret in _secret_values(any_stack):
        assert secret not in config


def test_every_resource_belongs_to_a_component(any_stack: StackRun) -> None:
    orphans = [r.name for r in any_stack.resources
               if r.custom and not r.type.startswith("pulumi:providers:") and r.parent_type is None]
    assert orphans == []


def test_kubernetes_objects_use_the_stack_provider(any_stack: StackRun) -> None:
    for run in any_stack.layers or [any_stack]:
        providers = {r.provider for r in run.resources if r.type.startswith("kubernetes:")}
        assert len(providers) <= 1 and f"{any_stack.config.prefix}-k8s" in (providers.pop() if providers else
                                                                             f"{any_stack.config.prefix}-k8s")


def test_resource_counts(dev: StackRun, prod: StackRun, local: StackRun) -> None:
    counts = {r.config.environment: r.custom_count for r in (dev, prod, local)}
    assert counts["prod"] > counts["dev"] > counts["local"] > 30, counts


def test_component_validates_args_before_creating_anything() -> None:
    with pytest.raises(ValueError, match="two availability zones"):
        Network("bad", NetworkArgs("10.0.0.0/16", ("us-east-1a",), False, "c", "us-east-1"))


def test_invalid_config_creates_nothing() -> None:
    from infra.config import ConfigError

    with pytest.raises(ConfigError):
        build_stack(StackConfig(environment="prod"))


def test_entry_point_only_reads_config_builds_and_exports() -> None:
    tree = ast.parse((REPO / "infra/__main__.py").read_text())
    calls = {n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
             for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert {"build_stack", "load_config", "export"} <= calls


def test_pulumi_project_points_at_infra() -> None:
    import yaml

    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    assert project["runtime"]["name"] == "python" and project["main"] == "infra/"


def test_one_kubernetes_provider_per_stack(any_stack: StackRun) -> None:
    # The harness refuses duplicate (type, name) pairs as the engine refuses duplicate URNs; count explicitly too.
    for run in any_stack.layers or [any_stack]:
        providers = [r for r in run.resources if r.type == "pulumi:providers:kubernetes"]
        assert len(providers) <= 1, [r.name for r in providers]


def test_aws_resources_use_the_stacks_explicit_provider(aws_stack: StackRun) -> None:
    for run in aws_stack.layers or [aws_stack]:
        (provider,) = run.of_type("pulumi:providers:aws")
        assert provider.inputs["region"] == aws_stack.config.region
        assert json.loads(provider.inputs["defaultTags"])["tags"]["environment"] == aws_stack.config.environment
        strays = [r.name for r in run.resources if r.type.startswith("aws:") and r.custom
                  and f"::{aws_stack.config.prefix}-aws::" not in str(r.provider)]
        assert strays == []
    import yaml

    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    assert project["config"]["pulumi:disable-default-providers"] == ["aws", "kubernetes"]
