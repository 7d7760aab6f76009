"""The worker registry: each worker process writes its heartbeat row (threads, runs held) every few seconds
and deletes it when it stops cleanly; the task console lists them with the age of their last heartbeat.
A worker that died keeps its row, shown stale, until a day has passed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.models import WorkerProcess
from app.models.base import as_utc, utcnow
from app.services import run_views

FORGET_AFTER = timedelta(days=1)


class WorkerRegistry:
    def __init__(self, sessions: sessionmaker[Session], stale_seconds: float) -> None:
        self._sessions = sessions
        # Past this age a heartbeat says the worker is gone (its leases would have expired too).
        self._stale = stale_seconds

    def beat(self, worker_id: str, threads: int, busy: int) -> None:
        """Record a heartbeat of `worker_id` (insert on the first). Also forgets workers silent for a day."""
        now = utcnow()
        with transaction(self._sessions) as session:
            found = session.execute(update(WorkerProcess).where(WorkerProcess.id == worker_id)
                                    .values(threads=threads, busy=busy, last_heartbeat_at=now)).rowcount
            if not found:
                session.add(WorkerProcess(id=worker_id, threads=threads, busy=busy, started_at=now,
                                          last_heartbeat_at=now))
            session.execute(delete(WorkerProcess).where(WorkerProcess.last_heartbeat_at < now - FORGET_AFTER))

    def leave(self, worker_id: str) -> None:
        """A clean shutdown: the worker leaves the list."""
        with transaction(self._sessions) as session:
            session.execute(delete(WorkerProcess).where(WorkerProcess.id == worker_id))

    def list(self) -> list[dict[str, Any]]:
        """Every known worker, most recent heartbeat first, with `heartbeat_age` (seconds) and `alive`."""
        now = utcnow()
        with self._sessions() as session:
            rows = session.scalars(select(WorkerProcess).order_by(WorkerProcess.last_heartbeat_at.desc())).all()
        out = []
        for row in rows:
            age = max(0.0, (now - (as_utc(row.last_heartbeat_at) or now)).total_seconds())
            out.append({"id": row.id, "threads": row.threads, "busy": row.busy,
                        "started_at": run_views.ts(row.started_at),
                        "last_heartbeat_at": run_views.ts(row.last_heartbeat_at),
                        "heartbeat_age": round(age, 3), "alive": age <= self._stale})
        return out
