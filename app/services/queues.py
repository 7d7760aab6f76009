"""Pausing and resuming the task queues, for the task console.

Two queues: `runs` (workflow and chat runs) and `indexing` (documents). A pause is a row in `queue_pauses`;
a worker that takes a message from a paused queue starts nothing and drops it, so the run or document stays
`queued`/`waiting` in the database (the truth) and nothing is lost; the reaper leaves them alone meanwhile.
`resume` deletes the row and queues every waiting run or document again. Pauses are deployment-wide, like
the queue itself. Safe to repeat: pausing a paused queue or resuming a running one changes nothing.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.errors import InvalidParam
from app.models import Document, QueuePause, WorkflowRun
from app.models.base import utcnow
from app.services import run_views
from app.services.queue import TaskQueue

QUEUES = ("runs", "indexing")


def check_queue(queue: str) -> str:
    """Raises InvalidParam unless `queue` names a queue."""
    if queue not in QUEUES:
        raise InvalidParam(f"queue must be one of {', '.join(QUEUES)}", params="queue")
    return queue


class QueueControl:
    def __init__(self, sessions: sessionmaker[Session], queue: TaskQueue, cache_seconds: float = 1.0) -> None:
        self._sessions = sessions
        self._queue = queue
        self._cache = cache_seconds
        # queue -> monotonic time it was last read as running. Only "running" is cached: a pause reaches other
        # processes within `cache_seconds`, while a resume is seen at once (a stale "paused" would drop the
        # messages `resume` has just sent).
        self._running_at: dict[str, float] = {}

    def is_paused(self, queue: str) -> bool:
        """Checked by workers before starting anything: a primary-key read at most once a second while the
        queue runs."""
        seen = self._running_at.get(queue)
        if seen is not None and time.monotonic() - seen < self._cache:
            return False
        with self._sessions() as session:
            paused = session.get(QueuePause, queue) is not None
        if paused:
            self._running_at.pop(queue, None)
        else:
            self._running_at[queue] = time.monotonic()
        return paused

    def state(self) -> dict[str, dict[str, Any]]:
        """Every queue: `{"paused": bool, "paused_at": unix seconds | None, "paused_by": str | None}`."""
        with self._sessions() as session:
            rows = {r.queue: r for r in session.scalars(select(QueuePause)).all()}
        return {q: {"paused": q in rows, "paused_at": run_views.ts(rows[q].paused_at) if q in rows else None,
                    "paused_by": rows[q].paused_by if q in rows else None} for q in QUEUES}

    def pause(self, queue: str, actor: str | None) -> dict[str, Any]:
        """Stop starting work from `queue`; what runs now finishes. Raises InvalidParam on an unknown queue."""
        check_queue(queue)
        self._running_at.pop(queue, None)
        try:
            with transaction(self._sessions) as session:
                if session.get(QueuePause, queue) is None:
                    session.add(QueuePause(queue=queue, paused_at=utcnow(), paused_by=actor))
        except IntegrityError:  # paused concurrently by someone else: the same outcome
            pass
        return {"queue": queue, **self.state()[queue]}

    def resume(self, queue: str) -> dict[str, Any]:
        """Start `queue` again and send every run (or document) waiting in it back to the workers; returns the
        state with `requeued`, the number sent. Raises InvalidParam on an unknown queue."""
        check_queue(queue)
        with transaction(self._sessions) as session:
            session.execute(QueuePause.__table__.delete().where(QueuePause.queue == queue))
        self._running_at.pop(queue, None)
        # Fresh enqueued_at: the reaper must not count these as lost messages and send them twice.
        table = WorkflowRun if queue == "runs" else Document
        waiting = (WorkflowRun.status == "queued") if queue == "runs" else (Document.indexing_status == "waiting")
        with transaction(self._sessions) as session:
            ids = list(session.scalars(update(table).where(waiting).values(enqueued_at=utcnow())
                                       .returning(table.id)))
        send = self._queue.enqueue_run if queue == "runs" else self._queue.enqueue_index
        for item_id in ids:
            send(item_id)
        return {"queue": queue, **self.state()[queue], "requeued": len(ids)}
