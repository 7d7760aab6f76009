"""Failed-authentication counters per client (an IP address), in fixed one-minute windows: in Redis (shared by
every API process) or in process memory for the embedded mode. After `limit` failures in a window the client
is blocked until the window ends, whatever token it presents next, so a guessing client cannot tell a right
guess from a wrong one while blocked.

Imports nothing from `app` above providers; a Redis error fails open (an outage of Redis must not lock every
client out)."""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Protocol

# KEYS[1] counter; ARGV window seconds. Counts one failure, starting the window on the first one.
_RECORD = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


class AuthFailures(Protocol):
    def blocked_for(self, client: str) -> float:
        """Seconds until `client` may try to authenticate again; 0 when it may now."""
        ...

    def record(self, client: str) -> None:
        """Count one failed authentication of `client`."""
        ...


class NoAuthLimit:
    """The counter when AUTH_FAILURES_PER_MINUTE is 0: never blocks."""

    def blocked_for(self, client: str) -> float:
        return 0.0

    def record(self, client: str) -> None:
        return None


class MemoryAuthFailures:
    def __init__(self, limit: int, window_seconds: float = 60.0) -> None:
        self._limit, self._window = limit, window_seconds
        self._counts: dict[str, tuple[float, int]] = {}  # client -> (window start, failures)
        self._lock = threading.Lock()

    def blocked_for(self, client: str) -> float:
        now = time.monotonic()
        with self._lock:
            start, count = self._counts.get(client, (now, 0))
            if now - start >= self._window:
                self._counts.pop(client, None)
                return 0.0
            return self._window - (now - start) if count >= self._limit else 0.0

    def record(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            start, count = self._counts.get(client, (now, 0))
            if now - start >= self._window:
                start, count = now, 0
            self._counts[client] = (start, count + 1)
            if len(self._counts) > 100_000:  # bound memory under a spray of addresses: drop finished windows
                self._counts = {k: v for k, v in self._counts.items() if now - v[0] < self._window}


class RedisAuthFailures:
    def __init__(self, client: Any, limit: int, window_seconds: int = 60,
                 prefix: str = "trellis:authfail:") -> None:
        self._client = client
        self._record = client.register_script(_RECORD)
        self._limit, self._window, self._prefix = limit, window_seconds, prefix

    def blocked_for(self, client: str) -> float:
        import redis

        key = self._prefix + client
        try:
            # One GET on every authenticated request; the PTTL only for a client already at the limit (issue
            # 18: a two-command pipeline per request cost about twice the CPU of a single command).
            count = self._client.get(key)
            if count is None or int(count) < self._limit:
                return 0.0
            ttl_ms = self._client.pttl(key)
        except redis.RedisError:
            return 0.0
        if ttl_ms == -2:  # the window ended between the two commands
            return 0.0
        return max(0.001, ttl_ms / 1000) if ttl_ms and ttl_ms > 0 else float(self._window)

    def record(self, client: str) -> None:
        import redis

        try:
            self._record(keys=[self._prefix + client], args=[self._window])
        except redis.RedisError:
            return None


def retry_after(seconds: float) -> int:
    """A Retry-After header value: whole seconds, at least 1."""
    return max(1, math.ceil(seconds))
