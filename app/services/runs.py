"""Runs from the caller's side: submit (write the row, then queue), read, stop, list logs, and follow a
run's events for blocking and streaming responses. Nothing here executes a graph."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ColumnDefault, String, cast, func, insert, null, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.db import Direct, Prepared, direct, engine_of, session_direct, transaction
from app.errors import InvalidParam, NotFound, NotWorkflowApp, ServiceUnavailable
from app.models import EndUser, WorkflowRun
from app.models.base import utcnow
from app.providers.events import EventLog
from app.services import run_views
from app.services.accounts import AppPrincipal
from app.services.admission import Admission, request_hash
from app.services.apps import Apps
from app.services.queue import TaskQueue

FINAL_STATUSES = ("succeeded", "failed", "stopped", "partial-succeeded")
OUTAGE_RETRY_SECONDS = 0.5  # between reads of an unreachable event log
FINAL_CHECK_SECONDS = 5.0  # of silence, before a follower reads the run row
FINAL_GRACE_SECONDS = 0.5  # for the finish event that follows a final row
PING_SLACK_SECONDS = 0.05
MAX_PAGE = 1_000_000
END_USER_CACHE_SIZE = 10_000

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ticket:
    run_id: str
    task_id: str
    replayed: bool = False


@dataclass(frozen=True)
class LogFilter:
    keyword: str | None = None
    status: str | None = None
    session_id: str | None = None
    created_before: datetime | None = None
    created_after: datetime | None = None


class Runs:
    def __init__(self, sessions: sessionmaker[Session], apps: Apps, events: EventLog, queue: TaskQueue,
                 admission: Admission | None = None) -> None:
        self._sessions = sessions
        self._engine = engine_of(sessions)
        self._apps = apps
        self._events = events
        self._queue = queue
        self._admission = admission or Admission()
        self._end_users: dict[tuple[str, str], str] = {}

    # -- submit ---------------------------------------------------------------------------------------------

    def submit(self, who: AppPrincipal, inputs: dict[str, Any], user: str, response_mode: str,
               idempotency_key: str | None = None, trace: dict[str, Any] | None = None) -> Ticket:
        """Validate inputs against the start node, write the run (`queued`), then queue it. If the queue refuses,
        the run is marked failed and ServiceUnavailable (503) raised: nothing is accepted that cannot run.
        With `idempotency_key`, a repeat of the same request returns the run the first one created."""
        workflow = self._apps.published(who.workspace_id, who.app_id)
        if workflow.app.mode != "workflow":
            raise NotWorkflowApp()
        clean = workflow.graph.start.validate_inputs(inputs)
        end_user_id = self.end_user(who, user)
        run = WorkflowRun(id=str(uuid.uuid4()), task_id=str(uuid.uuid4()), workspace_id=who.workspace_id,
                          app_id=who.app_id, workflow_version_id=workflow.version_id, end_user_id=end_user_id,
                          status="queued", response_mode=response_mode, inputs=clean, enqueued_at=utcnow(),
                          trace=trace)
        if idempotency_key:
            run.idempotency_key = idempotency_key
            run.request_hash = request_hash({"inputs": inputs, "user": user})
        return self.enqueue(run, app_cap=workflow.app.max_active_runs)

    def enqueue(self, run: WorkflowRun, write: Callable[[Session], None] | None = None,
                app_cap: int | None = None) -> Ticket:
        """Write `run` (and, in the same transaction, whatever `write` adds: a chat turn's message), then queue
        it. If the queue refuses, the run is marked failed and ServiceUnavailable (503) raised. A run carrying an
        `idempotency_key` already used returns the earlier run's ticket (`replayed`) and writes nothing; past the
        app's concurrency cap it raises TooManyRequests (429)."""
        try:
            if not run.idempotency_key and write is None and not self._admission.capped(app_cap):
                # Most submissions: one INSERT, in autocommit, without a session (issue 18).
                with direct(self._engine, single=True) as db:
                    _insert_run(db, run)
            else:
                replayed = self._admit(run, write, app_cap)
                if replayed is not None:
                    return replayed
        except IntegrityError:
            if not run.idempotency_key:
                raise
            # Two requests with the same key raced; the other one won and its run is the answer.
            with transaction(self._sessions) as session:
                earlier = self._admission.replay(session, run.app_id, run.idempotency_key, run.request_hash)
            if earlier is None:
                raise
            return Ticket(earlier.id, earlier.task_id, replayed=True)
        try:
            self._queue.enqueue_run(run.id)
        except ServiceUnavailable:
            # The request was refused (503), so its Idempotency-Key is released: a retry starts afresh.
            with transaction(self._sessions) as session:
                session.execute(update(WorkflowRun).where(WorkflowRun.id == run.id, WorkflowRun.status == "queued")
                                .values(status="failed", error="queue unavailable", finished_at=utcnow(),
                                        idempotency_key=None))
            raise
        return Ticket(run.id, run.task_id)

    def _admit(self, run: WorkflowRun, write: Callable[[Session], None] | None, app_cap: int | None) -> Ticket | None:
        """One transaction: the idempotency replay (its ticket, writing nothing), the capacity check, the run and
        `write`. None when the run was written."""
        with transaction(self._sessions) as session:
            if run.idempotency_key:
                earlier = self._admission.replay(session, run.app_id, run.idempotency_key, run.request_hash)
                if earlier is not None:
                    return Ticket(earlier.id, earlier.task_id, replayed=True)
            self._admission.check_capacity(session, run.app_id, app_cap)
            _insert_run(session_direct(session), run)
            if write is not None:
                write(session)
        return None

    def end_user(self, who: AppPrincipal, session_id: str) -> str:
        """The id of the app's end user named `session_id` (Dify's `user`), created on first use. Known ids are
        kept per process: end users are only ever added (and go with their app, whose runs then fail anyway)."""
        key = (who.app_id, session_id)
        known = self._end_users.get(key)
        if known is not None:
            return known
        found = self._find_or_create_end_user(who, session_id)
        if len(self._end_users) >= END_USER_CACHE_SIZE:
            self._end_users.clear()
        self._end_users[key] = found
        return found

    def _find_or_create_end_user(self, who: AppPrincipal, session_id: str) -> str:
        lookup = select(EndUser.id).where(EndUser.app_id == who.app_id, EndUser.session_id == session_id)
        with self._sessions() as session:
            found = session.scalars(lookup).first()
        if found:
            return found
        try:
            with transaction(self._sessions) as session:
                end_user = EndUser(workspace_id=who.workspace_id, app_id=who.app_id, session_id=session_id)
                session.add(end_user)
                session.flush()
                return end_user.id
        except IntegrityError:  # a concurrent request created it first
            with self._sessions() as session:
                return session.scalars(lookup).one()

    # -- read -----------------------------------------------------------------------------------------------

    def get(self, who: AppPrincipal, run_id: str) -> WorkflowRun:
        with self._sessions() as session:
            run = session.scalars(select(WorkflowRun).where(WorkflowRun.id == run_id,
                                                            WorkflowRun.app_id == who.app_id)).first()
            if run is None:
                raise NotFound("Workflow run not found")
            return run

    def load(self, run_id: str) -> WorkflowRun:
        with self._sessions() as session:
            run = session.get(WorkflowRun, run_id)
            if run is None:
                raise NotFound("Workflow run not found")
            return run

    def logs(self, who: AppPrincipal, flt: LogFilter, page: int,
             limit: int) -> tuple[list[tuple[WorkflowRun, str | None]], int]:
        query = (select(WorkflowRun, EndUser.session_id).outerjoin(EndUser, EndUser.id == WorkflowRun.end_user_id)
                 .where(WorkflowRun.app_id == who.app_id))
        if flt.status:
            query = query.where(WorkflowRun.status == flt.status)
        if flt.session_id:
            query = query.where(EndUser.session_id == flt.session_id)
        if flt.created_before:
            query = query.where(WorkflowRun.created_at < flt.created_before)
        if flt.created_after:
            query = query.where(WorkflowRun.created_at > flt.created_after)
        if flt.keyword:
            like = f"%{flt.keyword}%"
            query = query.where(or_(cast(WorkflowRun.inputs, String).like(like),
                                    cast(WorkflowRun.outputs, String).like(like), WorkflowRun.id == flt.keyword))
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.execute(query.order_by(WorkflowRun.created_at.desc())
                                   .offset((page - 1) * limit).limit(limit)).all()
            return [(row[0], row[1]) for row in rows], total

    # -- stop -----------------------------------------------------------------------------------------------

    def stop(self, who: AppPrincipal, task_id: str, user: str, missing_ok: bool = False) -> None:
        """Ask a run to stop, on behalf of end user `user` (Dify's session id): only the end user who started
        the run may stop it; for anyone else the task does not exist (NotFound, as for an unknown task). A queued
        run stops at once; a running one at its next check (between nodes and while an LLM streams). Stopping a
        finished run is a no-op, as in Dify; so is stopping an unknown task with `missing_ok` (Dify's chat and
        completion stops), else that raises NotFound."""
        with transaction(self._sessions) as session:
            run = session.scalars(select(WorkflowRun).outerjoin(EndUser, EndUser.id == WorkflowRun.end_user_id)
                                  .where(WorkflowRun.task_id == task_id, WorkflowRun.app_id == who.app_id,
                                         EndUser.session_id == user)).first()
            if run is None:
                if missing_ok:
                    return
                raise NotFound("Task not found")
            if run.status in FINAL_STATUSES:
                return
            run.stop_requested = True
            stopped_now = run.status == "queued"
            if stopped_now:
                now = utcnow()
                run.status, run.error, run.finished_at = "stopped", "Run stopped by user", now
        if stopped_now:
            self._events.append(run.id, run_views.workflow_finished(self.load(run.id)))

    # -- follow ---------------------------------------------------------------------------------------------

    def follow(self, run_id: str, timeout: float, heartbeat: float | None = None) -> Iterator[dict[str, Any] | None]:
        """Yield the run's events from the start until `workflow_finished` or `timeout`. With `heartbeat`, yield
        None whenever that many seconds pass without an event (the caller sends a ping).

        An accepted run is never answered with an error: when the event log is unreachable, this keeps retrying
        (it resumes after the last event it yielded), and it reads the run row meanwhile; once the row is final
        it yields a `workflow_finished` built from the row. The row is read every FINAL_CHECK_SECONDS of
        silence even when the log is up, so a finish whose event was lost in an outage is not waited for."""
        for batch in self.follow_batches(run_id, timeout, heartbeat):
            if batch is None:
                yield None
            else:
                yield from batch

    def follow_batches(self, run_id: str, timeout: float,
                       heartbeat: float | None = None) -> Iterator[list[dict[str, Any]] | None]:
        """`follow`, one list per read of the log (never empty; the last ends with `workflow_finished`), so a
        relay can write what arrived together in one go (issue 18: one socket write per batch, not per event)."""
        deadline = time.monotonic() + timeout
        after: str | None = None
        wait = heartbeat or FINAL_CHECK_SECONDS
        last_yield = last_check = time.monotonic()
        outage = False
        while (remaining := deadline - time.monotonic()) > 0:
            # Wake up in time for the next ping: a read that returns a moment early must not skip one.
            until_ping = last_yield + wait - time.monotonic()
            try:
                batch = self._events.read(run_id, after, max(0.01, min(until_ping, remaining)))
                outage = False
            except ServiceUnavailable:
                if not outage:
                    log.warning("event log unavailable while following a run; retrying", extra={"run_id": run_id})
                batch, outage = [], True
                time.sleep(max(0.0, min(OUTAGE_RETRY_SECONDS, remaining)))
            now = time.monotonic()
            if not batch:
                if heartbeat and now - last_yield >= heartbeat - PING_SLACK_SECONDS:
                    last_yield = now
                    yield None
                if outage or now - last_check >= FINAL_CHECK_SECONDS:
                    last_check = now
                    final = self._finished_in_db(run_id, after, outage)
                    if final is not None:
                        yield [final]
                        return
                continue
            last_yield = now
            after = batch[-1][0]
            payloads = [payload for _event_id, payload in batch]
            for index, payload in enumerate(payloads):
                if payload.get("event") == "workflow_finished":
                    yield payloads[:index + 1]
                    return
            yield payloads

    def _finished_in_db(self, run_id: str, after: str | None, outage: bool) -> dict[str, Any] | None:
        """`workflow_finished` from the run row when the row is final and the log has not said so (the event is
        appended just after the row commits, so with the log up, look once more before answering from the row).
        None while the run goes on, or when the database cannot tell either."""
        run = self._final_row(run_id)
        if run is None:
            return None
        if not outage:
            try:
                for _event_id, payload in self._events.read(run_id, after, FINAL_GRACE_SECONDS):
                    if payload.get("event") == "workflow_finished":
                        return payload
            except ServiceUnavailable:
                pass
        return run_views.workflow_finished(run)

    def _final_row(self, run_id: str) -> WorkflowRun | None:
        """The run row when it is final; None while the run goes on, or when the database cannot tell."""
        try:
            run = self.load(run_id)
        except (NotFound, SQLAlchemyError):
            return None
        return run if run.status in FINAL_STATUSES else None

    def wait_finished(self, run_id: str, timeout: float) -> dict[str, Any]:
        """Block until the run finishes (or `timeout`); returns Dify's blocking `data` object.

        Waits on the log's `wait_final`, so the thread wakes once at the run's end rather than at every batch
        of events (issue 18), with `follow`'s guarantees: an unreachable log is retried every
        OUTAGE_RETRY_SECONDS with the run row read meanwhile, the row is read after every FINAL_CHECK_SECONDS
        of silence, and an accepted run is never answered with an error."""
        deadline = time.monotonic() + timeout
        outage = False
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                final = self._events.wait_final(run_id, min(FINAL_CHECK_SECONDS, remaining))
                outage = False
            except ServiceUnavailable:
                if not outage:
                    log.warning("event log unavailable while waiting for a run; retrying", extra={"run_id": run_id})
                final, outage = None, True
                time.sleep(max(0.0, min(OUTAGE_RETRY_SECONDS, remaining)))
            if final is None:  # silence for FINAL_CHECK_SECONDS (or the log is down): ask the row
                final = self._final_from_row(run_id, outage)
            if final is not None:
                return dict(final["data"])
        return run_views.run_data(self.load(run_id))

    def _final_from_row(self, run_id: str, outage: bool) -> dict[str, Any] | None:
        """`_finished_in_db` for `wait_finished`: the grace look for the event goes to `wait_final`."""
        run = self._final_row(run_id)
        if run is None:
            return None
        if not outage:
            try:
                final = self._events.wait_final(run_id, FINAL_GRACE_SECONDS)
            except ServiceUnavailable:
                final = None
            if final is not None:
                return final
        return run_views.workflow_finished(run)


def _insert_run(db: Direct, run: WorkflowRun) -> None:
    # A prebuilt insert of every column: the values the caller set, the columns' defaults for the rest (given
    # here, not by SQLAlchemy's per-insert default handling), run on the DBAPI connection. The run is new and
    # only its ids are used afterwards; the ORM or Core execution around one INSERT would cost more CPU than
    # the INSERT itself on every submission (issue 18). The object stays transient.
    values = {key: default() if callable(default) else default for key, default in _RUN_DEFAULTS.items()}
    values.update((key, value) for key, value in run.__dict__.items() if key in _RUN_DEFAULTS)
    db.execute(_RUN_INSERT, values)


def _column_default(column: Column[Any]) -> Any:
    """What an INSERT that omits `column` stores: its Python default (a callable is called per insert), else
    NULL. A JSON column's NULL must be SQL's, not the JSON 'null' that None becomes (log search reads it)."""
    default = column.default
    if isinstance(default, ColumnDefault):
        return (lambda: default.arg(None)) if default.is_callable else default.arg
    return null() if isinstance(column.type, JSON) else None


_RUN_DEFAULTS = {column.key: _column_default(column) for column in WorkflowRun.__table__.columns}
_RUN_INSERT = Prepared(insert(WorkflowRun.__table__), columns=list(_RUN_DEFAULTS))


def parse_page(args: dict[str, Any], default_limit: int = 20, max_limit: int = 100) -> tuple[int, int]:
    """Dify's `page`/`limit` query parameters, validated (400 on nonsense)."""
    try:
        page = int(args.get("page", 1))
        limit = int(args.get("limit", default_limit))
    except (TypeError, ValueError) as exc:
        raise InvalidParam("page and limit must be integers") from exc
    # The page is capped too: an offset past 64 bits makes the database driver overflow (a 500, found by fuzzing).
    if not 1 <= page <= MAX_PAGE or not 1 <= limit <= max_limit:
        raise InvalidParam(f"page must be between 1 and {MAX_PAGE} and limit between 1 and {max_limit}")
    return page, limit
