"""Run events on Redis Streams: XADD per event, XREAD BLOCK to wait; the stream expires a day after its last
event so a late subscriber can still replay a finished run."""

from __future__ import annotations

from typing import Any

import redis

from app.errors import ServiceUnavailable
from app.providers import json_codec

RETENTION_SECONDS = 24 * 3600
MAX_EVENTS_PER_RUN = 100_000


class RedisStreamEventLog:
    def __init__(self, client: redis.Redis, prefix: str = "trellis:run-events:") -> None:
        self._redis = client
        self._prefix = prefix

    def _key(self, run_id: str) -> str:
        return self._prefix + run_id

    def append(self, run_id: str, payload: dict[str, Any]) -> str:
        event_id = self._xadd(run_id, [payload])[0]
        return event_id.decode() if isinstance(event_id, bytes) else str(event_id)

    def append_many(self, run_id: str, payloads: list[dict[str, Any]]) -> None:
        if payloads:
            self._xadd(run_id, payloads)

    def _xadd(self, run_id: str, payloads: list[dict[str, Any]]) -> list[Any]:
        key = self._key(run_id)
        try:
            pipe = self._redis.pipeline(transaction=False)
            for payload in payloads:
                pipe.xadd(key, {"e": json_codec.dumps(payload)}, maxlen=MAX_EVENTS_PER_RUN,
                          approximate=True)
            pipe.expire(key, RETENTION_SECONDS)
            return list(pipe.execute()[:-1])
        except redis.RedisError as exc:
            raise ServiceUnavailable("event log unavailable") from exc

    def read(self, run_id: str, after: str | None, timeout: float) -> list[tuple[str, dict[str, Any]]]:
        try:
            reply = self._redis.xread({self._key(run_id): after or "0-0"}, block=max(1, int(timeout * 1000)),
                                      count=1000)
        except redis.RedisError as exc:
            raise ServiceUnavailable("event log unavailable") from exc
        events: list[tuple[str, dict[str, Any]]] = []
        for _stream, entries in reply or []:
            for event_id, fields in entries:
                raw = fields.get(b"e") or fields.get("e")
                ident = event_id.decode() if isinstance(event_id, bytes) else str(event_id)
                events.append((ident, json_codec.loads(raw)))
        return events

    def close(self) -> None:
        self._redis.close()
