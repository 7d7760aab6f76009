"""Resolved `app-` keys are cached per process for API_KEY_CACHE_SECONDS: revocation is immediate where it
happens, and reaches other processes (other Accounts over the same database) within the TTL."""

from __future__ import annotations

import time

import pytest

from app.errors import Unauthorized
from app.services.accounts import Accounts
from tests.conftest import SAMPLES


def test_revocation_is_immediate_here_and_within_the_ttl_elsewhere(container):  # type: ignore[no-untyped-def]
    here = Accounts(container.sessions, key_cache_seconds=0.5)
    elsewhere = Accounts(container.sessions, key_cache_seconds=0.5)
    workspace_id = here.default_workspace_id()
    app_id = container.apps.import_dsl(workspace_id, (SAMPLES / "hello.yml").read_text()).id
    key_id, token = here.create_app_key(workspace_id, app_id)
    assert here.authenticate_app_key(token).app_id == app_id
    assert elsewhere.authenticate_app_key(token).key_id == key_id  # now cached in the other "process"

    here.revoke_app_key(workspace_id, app_id, key_id)
    with pytest.raises(Unauthorized):
        here.authenticate_app_key(token)
    assert elsewhere.authenticate_app_key(token).key_id == key_id  # stale for at most the TTL
    time.sleep(0.6)
    with pytest.raises(Unauthorized):
        elsewhere.authenticate_app_key(token)


def test_without_a_ttl_every_call_reads_the_database(container):  # type: ignore[no-untyped-def]
    uncached = Accounts(container.sessions)
    workspace_id = uncached.default_workspace_id()
    app_id = container.apps.import_dsl(workspace_id, (SAMPLES / "hello.yml").read_text()).id
    key_id, token = uncached.create_app_key(workspace_id, app_id)
    other = Accounts(container.sessions, key_cache_seconds=60)
    other.authenticate_app_key(token)
    other.revoke_app_key(workspace_id, app_id, key_id)
    with pytest.raises(Unauthorized):
        uncached.authenticate_app_key(token)
    with pytest.raises(Unauthorized):  # unknown tokens are never cached
        uncached.authenticate_app_key("app-not-a-key")
