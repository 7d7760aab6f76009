"""Failed-authentication counters (app/providers/auth_failures.py): the in-memory twin and Redis."""

from __future__ import annotations

import time
import uuid

from app.providers.auth_failures import MemoryAuthFailures, NoAuthLimit, RedisAuthFailures, retry_after


def test_memory_blocks_at_the_limit_and_releases_when_the_window_ends():
    counter = MemoryAuthFailures(limit=2, window_seconds=0.3)
    counter.record("1.2.3.4")
    assert counter.blocked_for("1.2.3.4") == 0
    counter.record("1.2.3.4")
    wait = counter.blocked_for("1.2.3.4")
    assert 0 < wait <= 0.3
    assert counter.blocked_for("5.6.7.8") == 0
    time.sleep(0.35)
    assert counter.blocked_for("1.2.3.4") == 0
    counter.record("1.2.3.4")  # a new window starts from one failure
    assert counter.blocked_for("1.2.3.4") == 0


def test_no_limit_never_blocks():
    counter = NoAuthLimit()
    for _ in range(100):
        counter.record("1.2.3.4")
    assert counter.blocked_for("1.2.3.4") == 0


def test_retry_after_is_whole_seconds_at_least_one():
    assert retry_after(0.01) == 1
    assert retry_after(41.2) == 42


def test_redis_counts_across_instances_and_expires(services):
    import redis

    client = redis.Redis.from_url(services.redis_url, socket_timeout=5)
    prefix = f"test:authfail:{uuid.uuid4().hex}:"
    first = RedisAuthFailures(client, limit=2, window_seconds=1, prefix=prefix)
    second = RedisAuthFailures(client, limit=2, window_seconds=1, prefix=prefix)  # another API process
    first.record("9.9.9.9")
    assert second.blocked_for("9.9.9.9") == 0
    second.record("9.9.9.9")
    assert 0 < first.blocked_for("9.9.9.9") <= 1
    time.sleep(1.1)
    assert first.blocked_for("9.9.9.9") == 0


def test_redis_outage_fails_open():
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2,
                         retry=Retry(NoBackoff(), 0))
    counter = RedisAuthFailures(client, limit=1)
    counter.record("1.1.1.1")
    assert counter.blocked_for("1.1.1.1") == 0
