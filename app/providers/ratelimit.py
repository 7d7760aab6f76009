"""Per-key request rate limits as token buckets: in Redis (shared by every API process, one Lua call per
request) or in process memory for the embedded mode."""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

# KEYS[1] bucket; ARGV rate, burst, now. Returns 0 when allowed, else the seconds until a token is available.
_LUA = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - ts) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 't', tokens, 'ts', now)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return tostring(wait)
"""


class RateLimiter(Protocol):
    def acquire(self, key: str) -> float:
        """Take one token for `key`; returns 0 when allowed, else the seconds to wait (Retry-After)."""
        ...


class Unlimited:
    def acquire(self, key: str) -> float:
        return 0.0


class MemoryRateLimiter:
    def __init__(self, rate: float, burst: int) -> None:
        self._rate, self._burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        now = time.monotonic()
        with self._lock:
            tokens, ts = self._buckets.get(key, (float(self._burst), now))
            tokens = min(self._burst, tokens + (now - ts) * self._rate)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / self._rate
            self._buckets[key] = (tokens, now)
            return wait


class RedisRateLimiter:
    def __init__(self, client: Any, rate: float, burst: int, prefix: str = "trellis:ratelimit:") -> None:
        self._script = client.register_script(_LUA)
        self._rate, self._burst, self._prefix = rate, burst, prefix

    def acquire(self, key: str) -> float:
        import redis

        try:
            return float(self._script(keys=[self._prefix + key], args=[self._rate, self._burst, time.time()]))
        except redis.RedisError:
            return 0.0  # fail open: a Redis blip must not turn into an outage of the API
