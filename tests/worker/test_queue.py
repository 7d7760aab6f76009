"""The worker's Huey on both queue backends: tasks run without Huey's revocation lookups (two storage round
trips per run, issue 18), and revoking, which those lookups served, is refused."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from app.settings import Settings
from tests.services import ServiceEndpoints
from worker import create_huey


@pytest.fixture(params=["sqlite", "redis"])
def queue_settings(request: pytest.FixtureRequest, make_settings: Callable[..., Settings]) -> Settings:
    if request.param == "sqlite":
        return make_settings(huey_name=f"q-{uuid.uuid4().hex[:8]}")
    services: ServiceEndpoints = request.getfixturevalue("services")
    return make_settings(redis_url=services.redis_url, huey_name=f"q-{uuid.uuid4().hex[:8]}")


def counted(storage: Any, calls: Counter[str]) -> None:
    """Count the storage's revocation reads and key deletes (the real storage still answers)."""
    for name in ("peek_many", "peek_data", "delete_data"):
        real = getattr(storage, name)

        def spy(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _real(*args, **kwargs)

        setattr(storage, name, spy)


def test_a_task_runs_without_revocation_round_trips(queue_settings: Settings) -> None:
    huey = create_huey(queue_settings)
    done: list[str] = []

    @huey.task(name="note", retries=0)
    def note(value: str) -> None:
        done.append(value)

    calls: Counter[str] = Counter()
    counted(huey.storage, calls)
    note("a")
    task = huey.dequeue()
    assert task is not None
    huey.execute(task)
    assert done == ["a"]
    assert calls == Counter()  # stock Huey: one peek_many before the task, one delete_data after it
    huey.storage.flush_all()


def test_revoking_is_refused(queue_settings: Settings) -> None:
    huey = create_huey(queue_settings)
    with pytest.raises(NotImplementedError):
        huey.revoke_by_id(str(uuid.uuid4()))
