"""The task-queue port the services enqueue through; `app.wiring` supplies the Huey-backed implementation."""

from __future__ import annotations

from typing import Protocol


class TaskQueue(Protocol):
    def enqueue_run(self, run_id: str) -> None:
        """Queue the execution of a run. Raises ServiceUnavailable when the queue cannot accept it."""
        ...

    def enqueue_index(self, document_id: str) -> None:
        """Queue the indexing of a document. Raises ServiceUnavailable when the queue cannot accept it."""
        ...

    def ping(self) -> bool:
        """True when the queue backend is reachable."""
        ...

    def pending(self) -> int:
        """Messages waiting in the queue."""
        ...
