"""Executing a leased run inside a worker: restore checkpoints, run the graph, checkpoint each node, publish
events, write the outcome. Every write is fenced by the lease epoch."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.engine.events import EngineEvent
from app.engine.ports import EnginePorts, LLMGateway, NodeServices
from app.engine.runner import GraphRunner, Limits
from app.engine.state import NodeRecord, NodeStatus, RunOutcome, RunStatus
from app.models import NodeExecution, WorkflowRun
from app.models.base import as_utc, utcnow
from app.providers.events import EventLog
from app.services import run_metrics, run_views
from app.services.apps import Apps
from app.services.chat_runs import ChatRunHooks
from app.services.leases import Lease
from app.services.metering import MeteredLLM, UsageRecorder, price_node

log = logging.getLogger(__name__)

STOP_CHECK_SECONDS = 0.25


class LeaseLost(Exception):
    """The run was taken over by another worker; this attempt must stop writing."""


class RunExecutor:
    def __init__(self, sessions: sessionmaker[Session], apps: Apps, events: EventLog, llm: LLMGateway,
                 limits: Limits, recorder: UsageRecorder | None = None,
                 chat: ChatRunHooks | None = None, services: NodeServices | None = None) -> None:
        self._sessions = sessions
        self._apps = apps
        self._events = events
        self._llm = llm
        self._limits = limits
        # Meters LLM calls and prices nodes (issue 7); None in engine-only tests.
        self._recorder = recorder
        # Chatflow turns: sys.query & co, conversation variables, memory, answer streaming, message writes.
        self._chat = chat
        # Side-effect ports of nodes (sandbox, egress HTTP, SQL), shared by every run of this worker.
        self._services = services or NodeServices()

    def execute(self, lease: Lease) -> RunStatus | None:
        """Run the leased run to its end. Idempotent across attempts: finished nodes are restored, not re-run.
        Returns the final status, or None when the lease was lost midway (another worker owns the run)."""
        with self._sessions() as session:
            run = session.get(WorkflowRun, lease.run_id)
            if run is None:
                return None
            restored = [_record(row) for row in session.scalars(
                select(NodeExecution).where(NodeExecution.run_id == run.id, NodeExecution.status == "succeeded"))]
        workflow = self._apps.version(run.workflow_version_id)
        if run.started_at is None:
            self._fenced(lease, started_at=utcnow())
            self._events.append(run.id, run_views.workflow_started(run))
        llm = self._llm if self._recorder is None else MeteredLLM(
            self._llm, self._recorder, workspace_id=run.workspace_id, app_id=run.app_id, run_id=run.id)
        ports = EnginePorts(llm=llm, emit=lambda event: self._emit(run, lease, event),
                            checkpoint=lambda record: self._checkpoint(lease, record),
                            should_stop=self._stop_checker(lease), services=self._services,
                            workspace_id=run.workspace_id)
        system = {"user_id": run.end_user_id, "app_id": run.app_id, "workflow_id": run.workflow_version_id,
                  "workflow_run_id": run.id, "files": []}
        try:
            with run_metrics.tracking(run):
                runner = GraphRunner(workflow.graph, ports, self._limits)
                chat = self._chat.attach(run, workflow, runner, ports, system) if self._chat else None
                outcome = runner.run(run.inputs, system, {}, restored,
                                     conversation=chat.conversation_values() if chat else None)
        except LeaseLost:
            log.warning("lease lost, abandoning attempt", extra={"run_id": run.id, "epoch": lease.epoch})
            return None
        if outcome.status == RunStatus.stopped and self._lease_lost(lease):
            return None
        if chat is not None and self._chat is not None:
            self._chat.finish(chat, run, outcome)
        return self._finish(lease, run, outcome)

    def _emit(self, run: WorkflowRun, lease: Lease, event: EngineEvent) -> None:
        self._events.append(run.id, run_views.engine_event(run, event))

    def _stop_checker(self, lease: Lease) -> Any:
        # Polled per streamed token: read the row at most every STOP_CHECK_SECONDS.
        state = {"at": 0.0, "stop": False}
        lock = threading.Lock()

        def should_stop() -> bool:
            with lock:
                now = time.monotonic()
                if not state["stop"] and now - state["at"] >= STOP_CHECK_SECONDS:
                    state["at"] = now
                    with self._sessions() as session:
                        row = session.execute(select(WorkflowRun.stop_requested, WorkflowRun.epoch)
                                              .where(WorkflowRun.id == lease.run_id)).first()
                    state["stop"] = row is None or bool(row.stop_requested) or row.epoch != lease.epoch
                return bool(state["stop"])

        return should_stop

    def _lease_lost(self, lease: Lease) -> bool:
        with self._sessions() as session:
            epoch = session.scalar(select(WorkflowRun.epoch).where(WorkflowRun.id == lease.run_id))
        return epoch != lease.epoch

    def _fenced(self, lease: Lease, **values: Any) -> None:
        with transaction(self._sessions) as session:
            result = session.execute(update(WorkflowRun).where(
                WorkflowRun.id == lease.run_id, WorkflowRun.epoch == lease.epoch).values(**values))
            if result.rowcount == 0:
                raise LeaseLost(lease.run_id)

    def _checkpoint(self, lease: Lease, record: NodeRecord) -> None:
        """Persist a finished node in the same transaction that proves we still hold the lease."""
        nanos = price_node(record, self._recorder.pricing) if self._recorder else 0
        run_metrics.node_finished(record)
        with transaction(self._sessions) as session:
            result = session.execute(update(WorkflowRun).where(
                WorkflowRun.id == lease.run_id, WorkflowRun.epoch == lease.epoch, WorkflowRun.status == "running")
                .values(total_tokens=WorkflowRun.total_tokens + record.total_tokens,
                        total_price_nanos=WorkflowRun.total_price_nanos + nanos))
            if result.rowcount == 0:
                raise LeaseLost(lease.run_id)
            session.add(NodeExecution(
                id=record.execution_id, run_id=lease.run_id, node_id=record.node_id, node_type=record.node_type,
                title=record.title, index=record.index, predecessor_node_id=record.predecessor_node_id,
                status=str(record.status), inputs=record.inputs, process_data=record.process_data,
                outputs=record.outputs, edge_handle=record.edge_handle, error=record.error,
                elapsed_time=record.elapsed_time, total_tokens=record.total_tokens,
                execution_metadata=record.metadata, epoch=lease.epoch, finished_at=utcnow()))

    def _finish(self, lease: Lease, run: WorkflowRun, outcome: RunOutcome) -> RunStatus | None:
        now = utcnow()
        created = as_utc(run.created_at) or now
        try:
            self._fenced(lease, status=str(outcome.status), outputs=outcome.outputs, error=outcome.error,
                         total_steps=outcome.total_steps, total_tokens=outcome.total_tokens,
                         exceptions_count=outcome.exceptions_count, finished_at=now,
                         elapsed_time=(now - created).total_seconds(), lease_owner=None, lease_expires_at=None,
                         price_currency=self._recorder.pricing.currency if self._recorder else "USD")
        except LeaseLost:
            return None
        with self._sessions() as session:
            final = session.get(WorkflowRun, run.id)
        assert final is not None
        self._events.append(run.id, run_views.workflow_finished(final))
        run_metrics.run_finished(final)
        return outcome.status


def _record(row: NodeExecution) -> NodeRecord:
    return NodeRecord(execution_id=row.id, node_id=row.node_id, node_type=row.node_type, title=row.title,
                      index=row.index, predecessor_node_id=row.predecessor_node_id, status=NodeStatus(row.status),
                      inputs=row.inputs, process_data=row.process_data, outputs=row.outputs,
                      edge_handle=row.edge_handle or "source", error=row.error, elapsed_time=row.elapsed_time,
                      total_tokens=row.total_tokens, metadata=dict(row.execution_metadata or {}))
