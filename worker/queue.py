"""The TaskQueue port backed by Huey."""

from __future__ import annotations

from huey import Huey

from app.errors import ServiceUnavailable
from worker import Tasks


class HueyTaskQueue:
    def __init__(self, huey: Huey, tasks: Tasks) -> None:
        self._huey = huey
        self._tasks = tasks

    def enqueue_run(self, run_id: str) -> None:
        try:
            self._tasks.run_workflow(run_id)
        except Exception as exc:  # redis.ConnectionError, sqlite3.OperationalError...: both mean "not queued"
            raise ServiceUnavailable("The task queue is unavailable; retry later.") from exc

    def enqueue_index(self, document_id: str) -> None:
        try:
            self._tasks.index_document(document_id)
        except Exception as exc:
            raise ServiceUnavailable("The task queue is unavailable; retry later.") from exc

    def ping(self) -> bool:
        try:
            self._huey.pending_count()
            return True
        except Exception:
            return False

    def pending(self) -> int:
        return int(self._huey.pending_count())
