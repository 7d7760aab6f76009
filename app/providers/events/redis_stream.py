"""Run events on Redis Streams: XADD per event, XREAD BLOCK to wait; the stream expires a day after its last
event so a late subscriber can still replay a finished run.

A run's `workflow_finished` is also added to a second, one-entry stream of its own, which `wait_final` blocks on:
a blocking client's thread then wakes once per run instead of at every batch of text chunks it would only skip
(issue 18). It goes in the same round trip, after the main stream's XADD (Redis runs a connection's commands in
order, so it is never seen there first); no MULTI, which cost the writer more than the two commands. A write
that fails part-way raises, and the writer's retry (the event batcher's) writes the batch again."""

from __future__ import annotations

from typing import Any

import redis

from app.errors import ServiceUnavailable
from app.providers import json_codec

RETENTION_SECONDS = 24 * 3600
MAX_EVENTS_PER_RUN = 100_000
FINISHED = "workflow_finished"


class RedisStreamEventLog:
    def __init__(self, client: redis.Redis, prefix: str = "trellis:run-events:",
                 final_prefix: str | None = None) -> None:
        self._redis = client
        self._prefix = prefix
        # Its own prefix, not a suffix of the events key: nothing that matches `prefix*` sees a second stream.
        self._final_prefix = final_prefix if final_prefix is not None else prefix.rstrip(":") + "-final:"

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
        encoded = [json_codec.dumps(payload) for payload in payloads]
        final = next((raw for payload, raw in zip(payloads, encoded, strict=True)
                      if payload.get("event") == FINISHED), None)
        try:
            pipe = self._redis.pipeline(transaction=False)
            for raw in encoded:
                pipe.xadd(key, {"e": raw}, maxlen=MAX_EVENTS_PER_RUN, approximate=True)
            pipe.expire(key, RETENTION_SECONDS)
            if final is not None:
                final_key = self._final_prefix + run_id
                pipe.xadd(final_key, {"e": final})
                pipe.expire(final_key, RETENTION_SECONDS)
            return list(pipe.execute()[:len(encoded)])
        except redis.RedisError as exc:
            raise ServiceUnavailable("event log unavailable") from exc

    def read(self, run_id: str, after: str | None, timeout: float) -> list[tuple[str, dict[str, Any]]]:
        reply = self._xread(self._key(run_id), after or "0-0", timeout, 1000)
        events: list[tuple[str, dict[str, Any]]] = []
        for _stream, entries in reply or []:
            for event_id, fields in entries:
                raw = fields.get(b"e") or fields.get("e")
                ident = event_id.decode() if isinstance(event_id, bytes) else str(event_id)
                events.append((ident, json_codec.loads(raw)))
        return events

    def wait_final(self, run_id: str, timeout: float) -> dict[str, Any] | None:
        for _stream, entries in self._xread(self._final_prefix + run_id, "0-0", timeout, 1) or []:
            for _event_id, fields in entries:
                payload: dict[str, Any] = json_codec.loads(fields.get(b"e") or fields.get("e"))
                return payload
        return None

    def _xread(self, key: str, after: str, timeout: float, count: int) -> Any:
        try:
            return self._redis.xread({key: after}, block=max(1, int(timeout * 1000)), count=count)
        except redis.RedisError as exc:
            raise ServiceUnavailable("event log unavailable") from exc

    def close(self) -> None:
        self._redis.close()
