"""A per-process cache of database reads that may be a few seconds stale (`CACHE_SECONDS`).

Used where a read sits on every request's path and its row rarely changes: `app-` keys, an app's published
version, budget caps. The service that changes such a row calls `forget` (or `clear`) after its commit, so the
change applies at once in that process; other processes see it when their entry expires."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from cachetools import TTLCache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ReadCache(Generic[K, V]):
    def __init__(self, seconds: float, max_entries: int = 10_000) -> None:
        # seconds <= 0 turns the cache off: every call loads.
        self._entries: TTLCache[K, V] | None = TTLCache(maxsize=max_entries, ttl=seconds) if seconds > 0 else None
        self._lock = threading.Lock()  # TTLCache is not thread-safe

    def get_or_load(self, key: K, load: Callable[[], V]) -> V:
        """The cached value, else `load()` (outside the lock; an exception is not cached)."""
        if self._entries is None:
            return load()
        with self._lock:
            found = self._entries.get(key)
        if found is not None:
            return found
        value = load()
        with self._lock:
            self._entries[key] = value
        return value

    def forget(self, key: K) -> None:
        if self._entries is not None:
            with self._lock:
                self._entries.pop(key, None)

    def clear(self) -> None:
        if self._entries is not None:
            with self._lock:
                self._entries.clear()
