"""The stack files parse into valid StackConfigs; unsafe or malformed configs are refused."""

from __future__ import annotations

import dataclasses
import json

import pytest
from infra_harness import PROD_OPERATOR_SETTINGS, load_stack_config

from infra.config import ConfigError, Mode, StackConfig, from_mapping
from infra.platform.spec import huey_queue_key
from infra.specs import DatabaseConfig


def _prod(extra: dict[str, str] | None = None) -> object:
    """prod with the settings only its operator knows (the file ships without them)."""
    cluster = json.dumps(PROD_OPERATOR_SETTINGS["cluster"])
    return load_stack_config("prod-cluster", {"trellis:cluster": cluster, **(extra or {})})


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_stack_files_load(stack: str) -> None:
    cfg = _prod() if stack == "prod" else load_stack_config(stack)
    assert cfg.environment == stack
    assert cfg.mode is (Mode.LOCAL if stack == "local" else Mode.AWS)
    assert cfg.secrets.openai_api_key is None


def test_prod_is_ha_and_dev_is_small() -> None:
    dev, prod = load_stack_config("dev"), _prod()
    assert prod.database.multi_az and prod.database.deletion_protection and prod.database.backup_retention_days == 30
    assert prod.network.nat_per_az and not dev.network.nat_per_az
    assert prod.cache.nodes >= 2 and dev.cache.nodes == 1
    assert prod.api.replicas == 3 and dev.api.replicas == 2
    assert prod.storage.replica_region and not dev.storage.replica_region


def test_unknown_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        load_stack_config("dev", {"trellis:database": '{"multiAZ": true}'})


def test_wrong_type_is_refused() -> None:
    with pytest.raises(ConfigError, match="expected int"):
        from_mapping(StackConfig, {"environment": "dev", "api": {"replicas": "two"}})


@pytest.mark.parametrize("change", [
    {"database": DatabaseConfig(multi_az=False, deletion_protection=True, backup_retention_days=30)},
    {"database": DatabaseConfig(multi_az=True, deletion_protection=False, backup_retention_days=30)},
    {"database": DatabaseConfig(multi_az=True, deletion_protection=True, backup_retention_days=7)},
])
def test_prod_without_protection_is_refused(change: dict[str, object]) -> None:
    prod = _prod()
    with pytest.raises(ConfigError, match="prod database"):
        dataclasses.replace(prod, **change).validate()  # type: ignore[arg-type]


@pytest.mark.parametrize("tag", ["latest", ""])
def test_unpinned_image_is_refused(tag: str) -> None:
    with pytest.raises(ConfigError, match="imageTag"):
        load_stack_config("dev", {"trellis:imageTag": tag})


def test_single_api_replica_is_refused() -> None:
    with pytest.raises(ConfigError, match="api.replicas"):
        load_stack_config("dev", {"trellis:api": '{"replicas": 1}'})


def test_secret_config_stays_secret() -> None:
    cfg = load_stack_config("dev", {"trellis:openaiApiKey": "sk-x"}, ["trellis:openaiApiKey"])
    assert cfg.secrets.openai_api_key is not None


def test_huey_queue_key_matches_huey_naming() -> None:
    assert huey_queue_key("trellis") == "huey.redis.trellis"
    assert huey_queue_key("Trellis-Prod_1") == "huey.redis.rellisrod1"  # huey strips [^a-z0-9]
