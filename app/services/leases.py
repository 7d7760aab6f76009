"""Run leases: who executes a run, until when, under which fencing epoch.

A claim is one compare-and-set UPDATE that bumps `epoch`; every later write of the holder is conditioned on
that epoch, so a zombie worker whose lease was taken over cannot change the run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db import Prepared, direct, engine_of, transaction, unattached
from app.models import WorkflowRun
from app.models.base import as_utc, utcnow


@dataclass(frozen=True)
class Lease:
    run_id: str
    owner: str
    epoch: int
    attempt: int
    # The run row as the claim left it, so the executor need not read it again; and whether this claim is the
    # run's first start (it set `started_at`), in which case the run has no checkpoints to restore.
    run: WorkflowRun | None = field(default=None, compare=False, repr=False)
    started_now: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class ReapReport:
    requeued: list[str]
    failed: list[str]


class Leases:
    def __init__(self, sessions: sessionmaker[Session], lease_seconds: float,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._engine = engine_of(sessions)
        self._ttl = timedelta(seconds=lease_seconds)
        self._clock = clock  # tests freeze it to reach expiry and age limits exactly

    def acquire(self, run_id: str, owner: str) -> Lease | None:
        """Take the run if it is queued or its lease expired. None when another worker holds it or it is final."""
        now = self._clock()
        with direct(self._engine, single=True) as db:
            row = db.first(_CLAIM, {"claim_run_id": run_id, "claim_owner": owner, "claim_now": now,
                                        "claim_expires": now + self._ttl})
        if row is None:
            return None
        run = unattached(WorkflowRun, row)  # the executor only reads it
        return Lease(run_id, owner, run.epoch, run.attempts, run=run, started_now=as_utc(run.started_at) == now)

    def renew(self, leases: list[Lease]) -> list[Lease]:
        """Extend the given leases; returns those that were lost: the run was taken over (a newer epoch), handed
        back to the queue, or is gone. A run that reached a final status under the lease is not lost, only done:
        the heartbeat's snapshot of held leases often predates a run's last write by a moment."""
        lost = []
        expires = self._clock() + self._ttl
        with transaction(self._sessions) as session:
            for lease in leases:
                result = session.execute(update(WorkflowRun).where(
                    WorkflowRun.id == lease.run_id, WorkflowRun.epoch == lease.epoch,
                    WorkflowRun.status == "running").values(lease_expires_at=expires))
                if result.rowcount == 0:
                    row = session.execute(select(WorkflowRun.epoch, WorkflowRun.status)
                                          .where(WorkflowRun.id == lease.run_id)).first()
                    if row is None or row.epoch != lease.epoch or row.status == "queued":
                        lost.append(lease)
        return lost

    def release(self, lease: Lease) -> None:
        """Give a still-running run back to the queue at once (used on graceful shutdown)."""
        with transaction(self._sessions) as session:
            session.execute(update(WorkflowRun).where(
                WorkflowRun.id == lease.run_id, WorkflowRun.epoch == lease.epoch, WorkflowRun.status == "running")
                .values(status="queued", lease_owner=None, lease_expires_at=None, enqueued_at=self._clock(),
                        # Bumping the epoch fences off any thread of ours still finishing this attempt.
                        epoch=WorkflowRun.epoch + 1))

    def reap(self, max_attempts: int, max_seconds: float, requeue_after: float) -> ReapReport:
        """Find runs whose lease expired or whose queue message was lost; mark them queued again (the caller
        re-enqueues them) or fail them past `max_attempts` / `max_seconds`. Rows are claimed with
        SKIP LOCKED on Postgres so reapers in many workers never fight."""
        now = self._clock()
        requeued: list[str] = []
        failed: list[str] = []
        expired = and_(WorkflowRun.status == "running", WorkflowRun.lease_expires_at < now)
        lost = and_(WorkflowRun.status == "queued", WorkflowRun.enqueued_at < now - timedelta(seconds=requeue_after))
        with transaction(self._sessions) as session:
            rows = session.scalars(select(WorkflowRun).where(or_(expired, lost)).limit(200)
                                   .with_for_update(skip_locked=True)).all()
            for run in rows:
                started = run.started_at or run.created_at
                too_old = started is not None and (now - as_utc(started)).total_seconds() > max_seconds
                if run.attempts >= max_attempts or too_old:
                    run.status = "failed"
                    run.error = (f"Max execution time {max_seconds:g}s reached." if too_old else
                                 f"Run abandoned after {run.attempts} attempts (worker lost each time).")
                    run.finished_at, run.lease_owner = now, None
                    failed.append(run.id)
                else:
                    run.status, run.lease_owner, run.lease_expires_at, run.enqueued_at = "queued", None, None, now
                    requeued.append(run.id)
        return ReapReport(requeued, failed)


# The claim, compiled once and run on the DBAPI connection in autocommit (see app/db.py): it runs before every
# run, and a Session's transaction around it cost more CPU than executing it (issue 18). The bound names differ
# from the columns' own (SQLAlchemy reserves those for the SET clause).
_RUNS = WorkflowRun.__table__
_NOW = bindparam("claim_now")
_EXPIRED = and_(_RUNS.c.status == "running", _RUNS.c.lease_expires_at < _NOW)
_CLAIM = Prepared(update(_RUNS)
                  .where(_RUNS.c.id == bindparam("claim_run_id"), or_(_RUNS.c.status == "queued", _EXPIRED),
                         _RUNS.c.stop_requested.is_(False))
                  .values(status="running", lease_owner=bindparam("claim_owner"),
                          lease_expires_at=bindparam("claim_expires"), epoch=_RUNS.c.epoch + 1,
                          attempts=_RUNS.c.attempts + 1, started_at=func.coalesce(_RUNS.c.started_at, _NOW))
                  .returning(*_RUNS.c))
