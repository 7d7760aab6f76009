"""ReadCache: loads once per TTL, forgets on demand, caches no failure, and is off at 0 seconds."""

from __future__ import annotations

import time

import pytest

from app.services.read_cache import ReadCache


def test_loads_once_per_ttl_and_forget_reloads():
    calls: list[int] = []
    cache: ReadCache[str, int] = ReadCache(0.2)
    load = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert [cache.get_or_load("k", load) for _ in range(3)] == [1, 1, 1]
    cache.forget("k")
    assert cache.get_or_load("k", load) == 2
    time.sleep(0.25)
    assert cache.get_or_load("k", load) == 3


def test_failures_are_not_cached_and_zero_seconds_turns_it_off():
    cache: ReadCache[str, int] = ReadCache(60)
    with pytest.raises(KeyError):
        cache.get_or_load("k", lambda: {}["missing"])
    assert cache.get_or_load("k", lambda: 7) == 7
    off: ReadCache[str, int] = ReadCache(0)
    assert off.get_or_load("k", lambda: 1) == 1 and off.get_or_load("k", lambda: 2) == 2
