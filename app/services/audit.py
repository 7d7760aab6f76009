"""The audit trail: who called which endpoint of the Service and management APIs, with what outcome and
latency, plus each run's call chain (its node executions and LLM calls) and the retention purge.

Recording is cheap for the request: `record()` appends to an in-memory buffer and a daemon thread writes
batches (one multi-row INSERT per `flush_interval` or `batch_size` records). The thread starts on first use in
each process (gunicorn forks after import), and `flush()` drains synchronously, so readers of the trail (and
tests) see every call made before them. When the buffer is full, records are dropped and counted in
`trellis_audit_dropped_total` rather than slowing the API.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import deque
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.errors import NotFound
from app.metrics import metrics
from app.models import AuditRecord, LlmCall, NodeExecution, WorkflowRun
from app.models.base import as_utc, new_id, utcnow
from app.services.pricing import to_display

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditEntry:
    method: str
    endpoint: str
    path: str
    status: int
    latency_ms: float
    actor_type: str = "anonymous"
    actor_id: str | None = None
    workspace_id: str | None = None
    app_id: str | None = None
    request_id: str | None = None
    created_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class AuditFilter:
    created_after: datetime | None = None
    created_before: datetime | None = None
    actor_id: str | None = None
    app_id: str | None = None
    endpoint: str | None = None
    method: str | None = None
    status_class: int | None = None  # 2, 4 or 5: 2xx, 4xx, 5xx
    status: int | None = None


class AuditLog:
    def __init__(self, sessions: sessionmaker[Session], *, batch_size: int = 200, flush_interval: float = 1.0,
                 max_buffer: int = 20_000) -> None:
        self._sessions = sessions
        self._batch_size = batch_size
        self._interval = flush_interval
        self._buffer: deque[AuditEntry] = deque()
        self._max_buffer = max_buffer
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._owner_pid: int | None = None

    # -- writing ------------------------------------------------------------------------------------------

    def record(self, entry: AuditEntry) -> None:
        """Queue one record for the background writer. Never raises and never blocks on the database."""
        with self._lock:
            if len(self._buffer) >= self._max_buffer:
                metrics().audit_dropped.inc()
                return
            self._buffer.append(entry)
            full = len(self._buffer) >= self._batch_size
            if self._owner_pid != os.getpid():
                self._start_writer()
        if full:
            self._wake.set()

    def _start_writer(self) -> None:
        self._owner_pid = os.getpid()
        threading.Thread(target=self._loop, name="audit-writer", daemon=True).start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the database may be briefly away; the records stay buffered for the next pass
                log.warning("audit flush failed; retrying", exc_info=True)

    def flush(self) -> int:
        """Write every buffered record now; returns how many. Records are put back if the write fails."""
        with self._lock:
            batch = list(self._buffer)
            self._buffer.clear()
        if not batch:
            return 0
        try:
            with transaction(self._sessions) as session:
                connection = session.connection()
                if connection.dialect.driver == "psycopg":
                    _copy_rows(connection, batch)
                else:
                    # A Core executemany of shallow copies (not `asdict`'s deep ones nor the ORM's bulk insert:
                    # issue 18). The column defaults (the id) apply.
                    connection.execute(_INSERT, [dict(e.__dict__) for e in batch])
        except Exception:
            with self._lock:
                room = self._max_buffer - len(self._buffer)
                self._buffer.extendleft(reversed(batch[:max(0, room)]))
                if room < len(batch):
                    metrics().audit_dropped.inc(len(batch) - max(0, room))
            raise
        return len(batch)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        try:
            self.flush()
        except Exception:
            log.warning("audit records lost at shutdown", exc_info=True)

    # -- reading ------------------------------------------------------------------------------------------

    def query(self, workspace_id: str, flt: AuditFilter, page: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """A page of this workspace's records, newest first, and the total matching."""
        self.flush()
        q = select(AuditRecord).where(AuditRecord.workspace_id == workspace_id)
        if flt.created_after:
            q = q.where(AuditRecord.created_at >= flt.created_after)
        if flt.created_before:
            q = q.where(AuditRecord.created_at < flt.created_before)
        for column, value in ((AuditRecord.actor_id, flt.actor_id), (AuditRecord.app_id, flt.app_id),
                              (AuditRecord.endpoint, flt.endpoint), (AuditRecord.status, flt.status),
                              (AuditRecord.method, flt.method.upper() if flt.method else None)):
            if value is not None:
                q = q.where(column == value)
        if flt.status_class:
            q = q.where(AuditRecord.status >= flt.status_class * 100, AuditRecord.status < flt.status_class * 100 + 100)
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
            rows = session.scalars(q.order_by(AuditRecord.created_at.desc(), AuditRecord.id)
                                   .offset((page - 1) * limit).limit(limit)).all()
        return [_record_view(r) for r in rows], total

    def call_chain(self, workspace_id: str, run_id: str, field_limit: int) -> dict[str, Any]:
        """A run and everything it did: nodes in order (inputs/outputs cut to `field_limit` characters), tokens,
        cost and errors, and every LLM call billed to it (including abandoned attempts)."""
        with self._sessions() as session:
            run = session.scalars(select(WorkflowRun).where(WorkflowRun.id == run_id,
                                                            WorkflowRun.workspace_id == workspace_id)).first()
            if run is None:
                raise NotFound("Workflow run not found")
            # A retried run keeps its failed attempt's node rows: same index, earlier finish.
            nodes = session.scalars(select(NodeExecution).where(NodeExecution.run_id == run_id)
                                    .order_by(NodeExecution.index, NodeExecution.finished_at)).all()
            calls = session.scalars(select(LlmCall).where(LlmCall.run_id == run_id)
                                    .order_by(LlmCall.created_at)).all()
        return {
            "id": run.id, "app_id": run.app_id, "task_id": run.task_id, "status": run.status, "error": run.error,
            "attempts": run.attempts, "total_tokens": run.total_tokens,
            "total_price": to_display(run.total_price_nanos or 0), "elapsed_time": run.elapsed_time,
            "created_at": _ts(run.created_at), "finished_at": _ts(run.finished_at),
            "nodes": [{"id": n.id, "node_id": n.node_id, "node_type": n.node_type, "title": n.title, "index": n.index,
                       "status": n.status, "error": n.error, "elapsed_time": n.elapsed_time,
                       "total_tokens": n.total_tokens, "execution_metadata": n.execution_metadata or {},
                       "inputs": truncate(n.inputs, field_limit), "outputs": truncate(n.outputs, field_limit)}
                      for n in nodes],
            "llm_calls": [{"provider": c.provider, "model": c.model, "prompt_tokens": c.prompt_tokens,
                           "completion_tokens": c.completion_tokens, "total_price": to_display(c.price_nanos),
                           "currency": c.currency, "latency": c.latency, "time_to_first_token": c.ttft,
                           "outcome": c.outcome, "created_at": _ts(c.created_at)} for c in calls],
        }

    def purge(self, older_than_days: int) -> int:
        """Delete records older than the retention; returns how many. Idempotent."""
        cutoff = utcnow() - timedelta(days=older_than_days)
        with transaction(self._sessions) as session:
            result = session.execute(delete(AuditRecord).where(AuditRecord.created_at < cutoff))
        return int(result.rowcount or 0)


_INSERT = insert(AuditRecord.__table__)
_ENTRY_FIELDS = tuple(f.name for f in fields(AuditEntry))
_ENTRY_VALUES = attrgetter(*_ENTRY_FIELDS)
_COPY = f"COPY {AuditRecord.__tablename__} (id, {', '.join(_ENTRY_FIELDS)}) FROM STDIN"


def _copy_rows(connection: Connection, batch: list[AuditEntry]) -> None:
    """The batch into `audit_log` by COPY, in the connection's transaction: half the CPU per record of an
    executemany on Postgres (issue 18). Every column is given; the id is the column's own default."""
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(_COPY) as copy:
        for entry in batch:
            copy.write_row((new_id(), *_ENTRY_VALUES(entry)))


def truncate(value: Any, limit: int) -> Any:
    """`value` itself when its JSON fits in `limit` characters, else a marked preview."""
    if value is None:
        return None
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) <= limit:
        return value
    return {"truncated": True, "size": len(text), "preview": text[:limit]}


def _ts(value: datetime | None) -> int | None:
    value = as_utc(value)
    return int(value.timestamp()) if value else None


def _record_view(r: AuditRecord) -> dict[str, Any]:
    return {"id": r.id, "created_at": _ts(r.created_at), "actor_type": r.actor_type, "actor_id": r.actor_id,
            "app_id": r.app_id, "method": r.method, "endpoint": r.endpoint, "path": r.path, "status": r.status,
            "latency_ms": round(r.latency_ms, 3), "request_id": r.request_id}
