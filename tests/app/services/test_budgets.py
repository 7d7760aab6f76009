"""Budget caps are cached per process for a few seconds: a change applies at once where it is made and
within the TTL in other processes (other Budgets over the same database)."""

from __future__ import annotations

import time

import pytest

from app.errors import QuotaExceeded
from app.models import LlmCall
from app.services.budgets import Budgets
from tests.conftest import SAMPLES


def test_a_new_cap_applies_here_at_once_and_elsewhere_within_the_ttl(container):  # type: ignore[no-untyped-def]
    workspace_id = container.accounts.default_workspace_id()
    app_id = container.apps.import_dsl(workspace_id, (SAMPLES / "hello.yml").read_text()).id
    with container.sessions() as session, session.begin():
        session.add(LlmCall(workspace_id=workspace_id, app_id=app_id, provider="openai", model="m", kind="chat",
                            prompt_tokens=60, completion_tokens=40, total_tokens=100, price_nanos=0,
                            latency=0.1))
    here, elsewhere = Budgets(container.sessions, cache_seconds=0.5), Budgets(container.sessions, cache_seconds=0.5)
    here.check(app_id)
    elsewhere.check(app_id)  # caches "no budget"
    here.set(workspace_id, app_id, tokens=50)
    with pytest.raises(QuotaExceeded):
        here.check(app_id)
    elsewhere.check(app_id)  # still the cached "no budget", for at most the TTL
    time.sleep(0.6)
    with pytest.raises(QuotaExceeded):
        elsewhere.check(app_id)
