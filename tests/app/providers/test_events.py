"""Both event-log backends: `append_many` keeps order, ids stay monotonic, readers see one sequence."""

from __future__ import annotations

import uuid

import pytest
import redis

from app.providers.events.redis_stream import RedisStreamEventLog


@pytest.fixture(params=["sql", "redis"])
def event_log(request, container, services):  # type: ignore[no-untyped-def]
    if request.param == "sql":
        yield container.events
        return
    client = redis.Redis.from_url(services.redis_url, socket_timeout=5)
    log = RedisStreamEventLog(client, prefix=f"test-events-{uuid.uuid4().hex[:6]}:")
    yield log
    log.close()


def test_append_many_then_append_reads_back_in_order(event_log):  # type: ignore[no-untyped-def]
    run_id = str(uuid.uuid4())
    first = event_log.append(run_id, {"event": "workflow_started", "n": 0})
    event_log.append_many(run_id, [{"event": "node_started", "n": i} for i in range(1, 6)])
    event_log.append_many(run_id, [])
    event_log.append(run_id, {"event": "workflow_finished", "n": 6})
    events = event_log.read(run_id, None, 1.0)
    assert [payload["n"] for _, payload in events] == list(range(7))
    assert events[0][0] == first
    # A reader that saw the first event gets exactly the rest.
    assert [payload["n"] for _, payload in event_log.read(run_id, first, 1.0)] == list(range(1, 7))
