"""The run-event log: an append-only, replayable sequence of Dify event payloads per run.

Redis Streams in production, a database table when embedded; `app.wiring` picks one."""

from __future__ import annotations

from typing import Any, Protocol


class EventLog(Protocol):
    def append(self, run_id: str, payload: dict[str, Any]) -> str:
        """Append one event; returns its id (monotonic per run)."""
        ...

    def append_many(self, run_id: str, payloads: list[dict[str, Any]]) -> None:
        """Append several events in order, in one round trip."""
        ...

    def read(self, run_id: str, after: str | None, timeout: float) -> list[tuple[str, dict[str, Any]]]:
        """Events after `after` (all when None), waiting up to `timeout` seconds for at least one."""
        ...

    def close(self) -> None: ...
