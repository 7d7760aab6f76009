"""The task console: the state of the queue and of runs for operators, and the actions on a run (cancel, which
revokes a queued run, retry from its last checkpoint or from scratch, re-queue a stuck one) and on the queue
(purge a workspace's queued runs; pausing lives in `app.services.queues`, workers in `app.services.workers`).

Reads the run table (the truth) and Huey's own introspection (`pending_count`, `scheduled_count`,
`pending`). Every read of runs is scoped to a workspace; `probe()` is the one global view, for the scrape-time
queue metrics. Actions are safe to repeat: retrying a run that is not failed or stopped is refused with 409.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.errors import Conflict, NotFound
from app.models import NodeExecution, WorkflowRun
from app.models.base import as_utc, utcnow
from app.providers.events import EventLog
from app.services import run_views
from app.services.queue import TaskQueue
from app.services.queues import QueueControl
from app.services.usage import percentile
from app.services.workers import WorkerRegistry

RETRYABLE = ("failed", "stopped")
FINAL = ("succeeded", "failed", "stopped", "partial-succeeded")


class TaskConsole:
    def __init__(self, sessions: sessionmaker[Session], huey: Any, queue: TaskQueue, events: EventLog,
                 stuck_seconds: float, *, queues: QueueControl, workers: WorkerRegistry) -> None:
        self._sessions = sessions
        self._huey = huey  # queue introspection only: pending_count, scheduled_count, pending
        self._queue = queue
        self._events = events
        self._stuck = timedelta(seconds=stuck_seconds)
        self._queues = queues
        self._workers = workers

    # -- reads ----------------------------------------------------------------------------------------------

    def probe(self) -> dict[str, Any]:
        """Global queue depth for the metrics scrape."""
        now = utcnow()
        with self._sessions() as session:
            counts = dict(session.execute(select(WorkflowRun.status, func.count())
                                          .where(WorkflowRun.status.in_(("queued", "running")))
                                          .group_by(WorkflowRun.status)).all())
            oldest = session.scalar(select(func.min(WorkflowRun.enqueued_at)).where(WorkflowRun.status == "queued"))
        age = (now - as_utc(oldest)).total_seconds() if oldest else 0.0
        return {"pending": self._huey.pending_count(), "scheduled": self._huey.scheduled_count(),
                "runs": {"queued": counts.get("queued", 0), "running": counts.get("running", 0)},
                "oldest_queued_age": max(0.0, age),
                "paused": {name: bool(q["paused"]) for name, q in self._queues.state().items()} if self._queues
                else {}}

    def overview(self, workspace_id: str, operator: bool = True) -> dict[str, Any]:
        """The task console's figures for a workspace. Without `operator`, what every workspace shares is left
        out: the worker list and the raw queue's entries (which name other workspaces' runs)."""
        now = utcnow()
        hour_ago = now - timedelta(hours=1)
        mine = WorkflowRun.workspace_id == workspace_id
        with self._sessions() as session:
            by_status = dict(session.execute(select(WorkflowRun.status, func.count()).where(mine)
                                             .group_by(WorkflowRun.status)).all())
            oldest = session.scalar(select(func.min(WorkflowRun.enqueued_at)).where(mine,
                                                                                  WorkflowRun.status == "queued"))
            started = session.execute(select(WorkflowRun.created_at, WorkflowRun.started_at).where(
                mine, WorkflowRun.started_at >= hour_ago)).all()
            finished = session.execute(select(WorkflowRun.status).where(
                mine, WorkflowRun.finished_at >= hour_ago, WorkflowRun.status.in_(FINAL))).scalars().all()
            owners = session.scalars(select(func.distinct(WorkflowRun.lease_owner)).where(
                WorkflowRun.status == "running", WorkflowRun.lease_expires_at >= now)).all()
            stuck = session.scalars(self._stuck_query(mine, now).limit(50)).all()
            failures = session.scalars(select(WorkflowRun).where(mine, WorkflowRun.status == "failed")
                                       .order_by(WorkflowRun.finished_at.desc()).limit(20)).all()
        waits = [(as_utc(s) - as_utc(c)).total_seconds() for c, s in started if s and c]  # type: ignore[operator]
        return {
            "queue": {"pending": self._huey.pending_count(), "scheduled": self._huey.scheduled_count(),
                      "queued_in_db": by_status.get("queued", 0),
                      "oldest_queued_age": (now - as_utc(oldest)).total_seconds() if oldest else 0.0,  # type: ignore[operator]
                      "wait_p50": percentile(waits, 0.5), "wait_p95": percentile(waits, 0.95)},
            "runs_by_status": by_status,
            "last_hour": {"finished": len(finished), "failed": sum(1 for s in finished if s == "failed"),
                          "error_rate": round(sum(1 for s in finished if s == "failed") / len(finished), 4)
                          if finished else 0.0},
            "workers_holding_leases": len([o for o in owners if o]),
            "paused": self._queues.state(),
            "workers": self._workers.list() if operator else [],
            "pending_tasks": self.pending_tasks() if operator else [],
            "stuck_runs": [run_row(r) for r in stuck],
            "recent_failures": [run_row(r) for r in failures],
        }

    def _stuck_query(self, scope: Any, now: Any) -> Any:
        return select(WorkflowRun).where(scope, or_(
            (WorkflowRun.status == "queued") & (WorkflowRun.enqueued_at < now - self._stuck),
            (WorkflowRun.status == "running") & (WorkflowRun.lease_expires_at < now),
            (WorkflowRun.status == "running") & (WorkflowRun.started_at < now - self._stuck),
        )).order_by(WorkflowRun.created_at)

    def pending_tasks(self, limit: int = 20) -> list[dict[str, Any]]:
        try:
            tasks = self._huey.pending(limit=limit)
        except TypeError:  # storages whose pending() takes no limit
            tasks = self._huey.pending()[:limit]
        return [{"id": t.id, "name": t.name, "args": list(t.args or ())} for t in tasks]

    def runs(self, workspace_id: str, status: str | None, app_id: str | None, page: int,
             limit: int) -> tuple[list[dict[str, Any]], int]:
        q = select(WorkflowRun).where(WorkflowRun.workspace_id == workspace_id)
        if status == "stuck":
            q = self._stuck_query(WorkflowRun.workspace_id == workspace_id, utcnow())
        elif status:
            q = q.where(WorkflowRun.status == status)
        if app_id:
            q = q.where(WorkflowRun.app_id == app_id)
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
            rows = session.scalars(q.order_by(None).order_by(WorkflowRun.created_at.desc())
                                   .offset((page - 1) * limit).limit(limit)).all()
        return [run_row(r) for r in rows], total

    # -- actions --------------------------------------------------------------------------------------------

    def cancel(self, workspace_id: str, run_id: str) -> dict[str, Any]:
        """Stop a run: a queued one at once, a running one at its next stop check. No-op when final."""
        with transaction(self._sessions) as session:
            run = self._owned(session, workspace_id, run_id)
            stopped_now = run.status == "queued"
            if run.status in ("queued", "running"):
                run.stop_requested = True
            if stopped_now:
                run.status, run.error, run.finished_at = "stopped", "Run stopped by an operator", utcnow()
        if stopped_now:
            self._announce(run_id)
        return self.get(workspace_id, run_id)

    def retry(self, workspace_id: str, run_id: str, from_scratch: bool = False) -> dict[str, Any]:
        """Queue a failed or stopped run again. It resumes after its last succeeded node (those are kept as
        checkpoints) unless `from_scratch`, which deletes its node executions first."""
        with transaction(self._sessions) as session:
            run = self._owned(session, workspace_id, run_id)
            if run.status not in RETRYABLE:
                raise Conflict(f"Only failed or stopped runs can be retried; this one is {run.status}")
            if from_scratch:
                session.execute(delete(NodeExecution).where(NodeExecution.run_id == run_id))
            session.execute(update(WorkflowRun).where(WorkflowRun.id == run_id).values(
                status="queued", error=None, stop_requested=False, finished_at=None, attempts=0, lease_owner=None,
                lease_expires_at=None, enqueued_at=utcnow(), outputs=None))
        self._queue.enqueue_run(run_id)
        return self.get(workspace_id, run_id)

    def requeue(self, workspace_id: str, run_id: str) -> dict[str, Any]:
        """Send a queued run's message again (its message was lost). Duplicates are harmless: the lease
        decides who runs it."""
        with self._sessions() as session:
            run = self._owned(session, workspace_id, run_id)
        if run.status != "queued":
            raise Conflict(f"Only queued runs can be re-queued; this one is {run.status}")
        self._queue.enqueue_run(run_id)
        return self.get(workspace_id, run_id)

    def purge(self, workspace_id: str, app_id: str | None = None) -> dict[str, Any]:
        """Stop every queued run of the workspace (or of one app): `{"purged": n, "ids": [...]}`. Their
        messages stay in the queue and find the runs stopped. Running runs are not touched."""
        scope = [WorkflowRun.workspace_id == workspace_id, WorkflowRun.status == "queued"]
        if app_id:
            scope.append(WorkflowRun.app_id == app_id)
        with transaction(self._sessions) as session:
            ids = list(session.scalars(update(WorkflowRun).where(*scope).values(
                status="stopped", stop_requested=True, error="Run purged from the queue by an operator",
                finished_at=utcnow()).returning(WorkflowRun.id)))
        for run_id in ids:  # blocking callers and streams waiting on these runs end now
            self._announce(run_id)
        return {"purged": len(ids), "ids": ids}

    def get(self, workspace_id: str, run_id: str) -> dict[str, Any]:
        with self._sessions() as session:
            return run_row(self._owned(session, workspace_id, run_id))

    def _owned(self, session: Session, workspace_id: str, run_id: str) -> WorkflowRun:
        run = session.scalars(select(WorkflowRun).where(WorkflowRun.id == run_id,
                                                        WorkflowRun.workspace_id == workspace_id)).first()
        if run is None:
            raise NotFound("Workflow run not found")
        return run

    def _announce(self, run_id: str) -> None:
        with self._sessions() as session:
            run = session.get(WorkflowRun, run_id)
        if run is not None:
            self._events.append(run_id, run_views.workflow_finished(run))


def run_row(run: WorkflowRun) -> dict[str, Any]:
    return {"id": run.id, "task_id": run.task_id, "app_id": run.app_id, "status": run.status, "error": run.error,
            "attempts": run.attempts, "lease_owner": run.lease_owner, "total_tokens": run.total_tokens,
            "elapsed_time": run.elapsed_time, "created_at": run_views.ts(run.created_at),
            "started_at": run_views.ts(run.started_at), "finished_at": run_views.ts(run.finished_at),
            "lease_expires_at": run_views.ts(run.lease_expires_at)}
