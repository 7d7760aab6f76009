"""The tool_providers table as the registry's store: workspace scoping, lookup by id or name, credentials
sealed at rest and unreadable under another SECRET_KEY, and the generated key of a single-machine install."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.errors import Conflict, NotFound, ToolCredentialsMissing
from app.providers.secret_box import SecretBox
from app.services.tools.store import ToolProviderStore
from app.wiring import secret_key


@pytest.fixture
def store(container) -> ToolProviderStore:
    return ToolProviderStore(container.sessions, SecretBox("key-one"))


@pytest.fixture
def workspace(container) -> str:
    return container.accounts.default_workspace_id()


def test_installations_are_found_by_id_or_name_within_their_workspace(store, workspace, container):
    item = store.add(workspace, "api", "uuid-1", "Kolors", {"schema": "x"}, {"api_key": "k"})
    assert store.find(workspace, "api", "uuid-1") == item
    assert store.find(workspace, "api", "another-uuid", name="Kolors") == item
    assert store.find(workspace, "mcp", "uuid-1") is None and store.find("other-ws", "api", "uuid-1") is None
    assert item.credential_names == ("api_key",) and item.config == {"schema": "x"}
    with pytest.raises(Conflict):
        store.add(workspace, "api", "uuid-1", "again", {}, {})
    with pytest.raises(NotFound):
        store.get("other-ws", item.id)


def test_updates_change_the_version_and_replace_credentials(store, workspace):
    item = store.add(workspace, "api", "p", "P", {"v": 1}, {"api_key": "one"})
    changed = store.change(workspace, item.id, "P2", {"v": 2}, {"token": "two"})
    assert changed.version != item.version and changed.name == "P2" and changed.config == {"v": 2}
    assert store.credentials(workspace, "api", "p") == {"token": "two"}
    store.change(workspace, item.id, None, None, {})
    assert store.credentials(workspace, "api", "p") == {} and store.get(workspace, item.id).credential_names == ()
    store.remove(workspace, item.id)
    assert store.find(workspace, "api", "p") is None


def test_credentials_are_sealed_and_need_the_same_key(store, workspace, container):
    store.put_builtin_credentials(workspace, "tavily", {"api_key": "tvly-plain-text"})
    with container.engine.connect() as conn:
        raw = conn.execute(text("SELECT credentials, credential_names FROM tool_providers")).one()
    assert "tvly-plain-text" not in raw[0] and raw[1] == "api_key"
    assert store.credentials(workspace, "builtin", "tavily") == {"api_key": "tvly-plain-text"}
    other = ToolProviderStore(container.sessions, SecretBox("key-two"))
    with pytest.raises(ToolCredentialsMissing, match="SECRET_KEY") as info:
        other.credentials(workspace, "builtin", "tavily")
    assert "tvly-plain-text" not in info.value.message
    store.delete_builtin_credentials(workspace, "tavily")
    assert store.credentials(workspace, "builtin", "tavily") == {}


def test_a_generated_secret_key_is_kept_and_reused(make_settings, tmp_path):
    settings = make_settings(trellis_home=tmp_path / "fresh")
    first = secret_key(settings)
    assert len(first) >= 40 and secret_key(settings) == first
    assert oct((tmp_path / "fresh" / "secret_key").stat().st_mode & 0o777) == "0o600"
    assert list((tmp_path / "fresh").glob(".secret_key.*")) == []
    assert secret_key(make_settings(secret_key="given")) == "given"


def test_the_store_on_postgres(make_settings, postgres_url):
    from tests.conftest import build_test_container

    container = build_test_container(make_settings(database_url=postgres_url, secret_key="pg-key"))
    try:
        workspace = container.accounts.default_workspace_id()
        store = container.tools.store
        item = store.add(workspace, "api", "uuid-pg", "On PG", {"schema": {"openapi": "3.0.0"}, "n": [1, 2]},
                         {"api_key": "pg-secret"})
        assert store.find(workspace, "api", "x", name="On PG") == item
        assert item.config == {"schema": {"openapi": "3.0.0"}, "n": [1, 2]}
        assert store.credentials(workspace, "api", "uuid-pg") == {"api_key": "pg-secret"}
        with container.engine.connect() as conn:
            assert "pg-secret" not in conn.scalar(text("SELECT credentials FROM tool_providers"))
            kind = conn.scalar(text("SELECT data_type FROM information_schema.columns "
                                    "WHERE table_name = 'tool_providers' AND column_name = 'config'"))
        assert kind == "jsonb"
    finally:
        container.close()
