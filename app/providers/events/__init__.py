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

    def wait_final(self, run_id: str, timeout: float) -> dict[str, Any] | None:
        """The run's first `workflow_finished` payload, waiting up to `timeout` seconds for it; None when it has
        not been appended by then. Reads nothing else of the run, so a blocking caller is woken once, at the
        run's end, not at every batch of events (issue 18). Every `workflow_finished` passed to `append` or
        `append_many` counts, whoever wrote it (executor, abandon, stop of a queued run, reaper); it is visible
        here no earlier than in `read`. Raises ServiceUnavailable when the log cannot be reached."""
        ...

    def close(self) -> None: ...
