"""Both event-log backends: `append_many` keeps order, ids stay monotonic, readers see one sequence;
`wait_final` answers the run's first `workflow_finished` however it was appended, and nothing else."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import redis

from app.errors import ServiceUnavailable
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


def test_wait_final_is_none_until_the_run_ends_then_the_first_finish(event_log):  # type: ignore[no-untyped-def]
    run_id = str(uuid.uuid4())
    event_log.append(run_id, {"event": "workflow_started"})
    # A node whose outputs hold the words is not the end of the run.
    event_log.append_many(run_id, [{"event": "node_finished", "data": {"outputs": {"event": "workflow_finished"}}},
                                   {"event": "text_chunk", "data": {"text": '"event":"workflow_finished"'}}])
    started = time.monotonic()
    assert event_log.wait_final(run_id, 0.3) is None
    assert time.monotonic() - started >= 0.25
    # The executor ends a run in a batch (append_many); abandon, stop and the reaper with `append`.
    event_log.append_many(run_id, [{"event": "node_finished", "n": 1}, {"event": "workflow_finished", "n": 2}])
    event_log.append(run_id, {"event": "workflow_finished", "n": 3})
    assert event_log.wait_final(run_id, 1.0) == {"event": "workflow_finished", "n": 2}
    assert event_log.wait_final(str(uuid.uuid4()), 0.05) is None
    other = str(uuid.uuid4())
    event_log.append(other, {"event": "workflow_finished", "n": 4})
    assert event_log.wait_final(other, 1.0) == {"event": "workflow_finished", "n": 4}
    assert [p["n"] for _, p in event_log.read(other, None, 1.0)] == [4]  # still in the replayable sequence


def test_wait_final_wakes_when_the_finish_is_appended(event_log):  # type: ignore[no-untyped-def]
    run_id = str(uuid.uuid4())
    timer = threading.Timer(0.2, event_log.append_many,
                            args=(run_id, [{"event": "text_chunk"}, {"event": "workflow_finished", "n": 1}]))
    started = time.monotonic()
    timer.start()
    try:
        assert event_log.wait_final(run_id, 5.0) == {"event": "workflow_finished", "n": 1}
    finally:
        timer.join()
    assert time.monotonic() - started < 2.0


def test_redis_wait_final_is_service_unavailable_when_redis_is_down():  # type: ignore[no-untyped-def]
    log = RedisStreamEventLog(redis.Redis(port=1, socket_connect_timeout=0.2))
    with pytest.raises(ServiceUnavailable):
        log.wait_final(str(uuid.uuid4()), 0.1)
