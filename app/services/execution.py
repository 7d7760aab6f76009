"""Executing a leased run inside a worker: restore checkpoints, run the graph, checkpoint each node, publish
events, write the outcome. Every write is fenced by the lease epoch."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db import Direct, Prepared, direct, engine_of, session_direct, transaction, unattached
from app.engine.events import AgentLog, EngineEvent, TextChunk
from app.engine.nodes import is_quick
from app.engine.ports import EnginePorts, LLMGateway, NodeServices
from app.engine.runner import GraphRunner, Limits
from app.engine.state import NodeRecord, NodeStatus, RunOutcome, RunStatus
from app.models import NodeExecution, WorkflowRun
from app.models.base import as_utc, utcnow
from app.providers.events import EventLog
from app.services import run_metrics, run_views
from app.services.apps import Apps
from app.services.chat_runs import ChatRunHooks
from app.services.event_batcher import EventBatcher
from app.services.knowledge import scoped_services
from app.services.leases import Lease
from app.services.metering import MeteredLLM, UsageRecorder, price_node
from app.services.run_files import RunFileStore
from app.services.run_trace import Tracing
from app.services.tools.graph_run import calls_billed_to

log = logging.getLogger(__name__)

STOP_CHECK_SECONDS = 0.25


@dataclass
class RunBatch:
    """What one attempt holds back to write together: its events, and the rows of quick nodes (see `quick`)."""
    events: EventBatcher
    nodes: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class LeaseLost(Exception):
    """The run was taken over by another worker; this attempt must stop writing."""


class RunExecutor:
    def __init__(self, sessions: sessionmaker[Session], apps: Apps, events: EventLog, llm: LLMGateway,
                 limits: Limits, recorder: UsageRecorder | None = None,
                 chat: ChatRunHooks | None = None, services: NodeServices | None = None,
                 tracing: Tracing | None = None, branch_threads: int = 64) -> None:
        self._sessions = sessions
        self._engine = engine_of(sessions)
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
        self._tracing = tracing or Tracing()  # OpenTelemetry spans of each attempt (issue 17); off: identity
        # The parallel branches of every run of this worker, instead of a pool made and joined per run. Its
        # threads start on demand; the bound (worker threads x per-run parallelism) is what per-run pools
        # could reach together, so no run waits for another's branches. Iteration and loop bodies keep
        # their own pools (see GraphRunner).
        self._branches = ThreadPoolExecutor(branch_threads, thread_name_prefix="branch")

    def execute(self, lease: Lease) -> RunStatus | None:
        """Run the leased run to its end. Idempotent across attempts: finished nodes are restored, not re-run.
        Returns the final status, or None when the lease was lost midway (another worker owns the run)."""
        run, restored = lease.run, []
        if run is None or not lease.started_now:  # a resumed run: read its checkpoints
            with self._sessions() as session:
                run = run or session.get(WorkflowRun, lease.run_id)
                if run is None:
                    return None
                restored = [_record(row) for row in session.scalars(select(NodeExecution).where(
                    NodeExecution.run_id == run.id, NodeExecution.status == "succeeded"))]
        workflow = self._apps.version(run.workflow_version_id)
        batch = RunBatch(EventBatcher(self._events, run.id,
                                      chunk_payload=lambda text, selector: run_views.text_chunk(run, text, selector)))
        first_start = lease.started_now
        if run.started_at is None:  # a lease made without the claim (tests)
            self._fenced(lease, started_at=utcnow())
            first_start = True
        if first_start:
            batch.events.add(run_views.workflow_started(run), urgent=False)
        llm = self._llm if self._recorder is None else MeteredLLM(
            self._llm, self._recorder, workspace_id=run.workspace_id, app_id=run.app_id, run_id=run.id)
        trace = self._tracing.attempt(run, workflow.graph.environment, workflow.graph.secret_names, lease.attempt,
                                      resumed=not first_start, restored=len(restored))
        ports = EnginePorts(llm=trace.llm(llm), emit=trace.sink(lambda event: self._emit(run, batch, event)),
                            checkpoint=lambda record: self._checkpoint(lease, batch, record),
                            should_stop=self._stop_checker(lease),
                            services=trace.services(self._run_services(run)),
                            workspace_id=run.workspace_id)
        system = {"user_id": run.end_user_id, "app_id": run.app_id, "workflow_id": run.workflow_version_id,
                  "workflow_run_id": run.id, "files": []}
        try:
            try:
                with run_metrics.tracking(run), trace.bound(), calls_billed_to(ports.llm):
                    runner = GraphRunner(workflow.graph, ports, self._limits, self._branches)
                    chat = self._chat.attach(run, workflow, runner, ports, system) if self._chat else None
                    outcome = runner.run(run.inputs, system, {}, restored,
                                         conversation=chat.conversation_values() if chat else None)
            except LeaseLost:
                log.warning("lease lost, abandoning attempt", extra={"run_id": run.id, "epoch": lease.epoch})
                return None
            # The events the run still holds (its last nodes') go out with `workflow_finished` after the final
            # commit, in one write instead of two (issue 18). An event the log could never store must still fail
            # the run before that commit (issue 14): its content is checked here.
            batch.events.check()
            if outcome.status == RunStatus.stopped and self._lease_lost(lease):
                return None
            turn = self._chat.finish(chat, run, outcome) if chat is not None and self._chat is not None else None
            status = self._finish(lease, batch, run, outcome, turn)
        finally:
            batch.events.flush()  # what is still held when the run did not finish (or the log was down)
        if status is not None:
            trace.finish(run, outcome)
        return status

    def _run_services(self, run: WorkflowRun) -> NodeServices:
        """The worker's node services as this run sees them: retrieval billed to its app and run, files read
        from its own workspace only."""
        services = scoped_services(self._services, run.app_id, run.id)
        if isinstance(services.files, RunFileStore):
            services = dataclasses.replace(services, files=services.files.scoped(run.workspace_id))
        return services

    def abandon(self, lease: Lease, exc: BaseException) -> bool:
        """Fail the leased run at once with `exc` as its reason, for a crash that another attempt would only
        repeat (bad data, a bug), and tell its followers (`workflow_finished`). Fenced by the lease epoch; returns
        False when the run is no longer ours. Transient backend errors are not for this: the caller lets the
        reaper retry those."""
        reason = f"The run could not be executed: {type(exc).__name__}: {str(exc)[:500]}"
        # The reason itself must be storable (the crash may be about text that is not).
        reason = reason.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")
        now = utcnow()
        with transaction(self._sessions) as session:
            final = session.scalars(update(WorkflowRun).where(
                WorkflowRun.id == lease.run_id, WorkflowRun.epoch == lease.epoch, WorkflowRun.status == "running")
                .values(status="failed", error=reason, finished_at=now, lease_owner=None, lease_expires_at=None)
                .returning(WorkflowRun).execution_options(synchronize_session=False)).first()
        if final is None:
            return False
        self._events.append(final.id, run_views.workflow_finished(final))
        return True

    def _emit(self, run: WorkflowRun, batch: RunBatch, event: EngineEvent) -> None:
        if type(event) is TextChunk:
            # Per streamed delta: the batcher builds the payload once per merged chunk (issue 18).
            batch.events.add_text(event.text, event.from_variable_selector)
            return
        payload = run_views.engine_event(run, event)
        if isinstance(event, AgentLog):
            batch.events.add(payload, urgent=True)  # agent steps sit between slow model and tool calls
        else:
            # A slow node's end is written at once, unless the run goes straight on (no branch in flight): then
            # it waits for the next node's events (a slow node's start is written at once) or the run's end, a
            # moment later, and shares their write (issue 18: one event-log round trip less per LLM run).
            urgent = not is_quick(event.record.node_type) and not getattr(event, "next_at_once", False)
            batch.events.add(payload, urgent=urgent)

    def _stop_checker(self, lease: Lease) -> Any:
        # Polled per streamed token: read the row at most every STOP_CHECK_SECONDS, the first time that long
        # after the start (the claim itself refused a run whose stop was requested before).
        state = {"at": time.monotonic(), "stop": False}
        lock = threading.Lock()

        def should_stop() -> bool:
            with lock:
                now = time.monotonic()
                if not state["stop"] and now - state["at"] >= STOP_CHECK_SECONDS:
                    state["at"] = now
                    with direct(self._engine, single=True) as db:
                        row = db.first(_STOP_CHECK, {"stop_run_id": lease.run_id})
                    state["stop"] = row is None or bool(row["stop_requested"]) or row["epoch"] != lease.epoch
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

    def _checkpoint(self, lease: Lease, batch: RunBatch, record: NodeRecord) -> None:
        """Persist a finished node in the same transaction that proves we still hold the lease. A quick node's
        row waits for the next checkpoint (or the run's end): if the worker dies first, the resumed attempt
        simply runs that node again, which costs microseconds and changes nothing outside the run."""
        run_metrics.node_finished(record)
        with batch.lock:
            batch.nodes.append(self._node_row(lease, record))
            if is_quick(record.node_type) and record.status == NodeStatus.succeeded:
                return
            rows, batch.nodes = batch.nodes, []
        with direct(self._engine) as db:
            changed = db.execute(_CHECKPOINT, {
                "cp_run_id": lease.run_id, "cp_epoch": lease.epoch,
                "cp_tokens": sum(row["total_tokens"] or 0 for row, _ in rows),
                "cp_nanos": sum(nanos for _, nanos in rows)})
            if changed == 0:
                raise LeaseLost(lease.run_id)
            _insert_nodes(db, rows)

    def _node_row(self, lease: Lease, record: NodeRecord) -> tuple[dict[str, Any], int]:
        """The node's row (the values of a `node_executions` insert) and its price in nanos."""
        nanos = price_node(record, self._recorder.pricing) if self._recorder else 0
        return {"id": record.execution_id, "run_id": lease.run_id, "node_id": record.node_id,
                "node_type": record.node_type, "title": record.title, "index": record.index,
                "predecessor_node_id": record.predecessor_node_id, "status": str(record.status),
                "inputs": record.inputs, "process_data": record.process_data, "outputs": record.outputs,
                "edge_handle": record.edge_handle, "error": record.error, "elapsed_time": record.elapsed_time,
                "total_tokens": record.total_tokens, "execution_metadata": record.metadata, "epoch": lease.epoch,
                "finished_at": utcnow()}, nanos

    def _finish(self, lease: Lease, batch: RunBatch, run: WorkflowRun, outcome: RunOutcome,
                turn: Callable[[Session], None] | None = None) -> RunStatus | None:
        """One fenced transaction: the held node rows, the outcome, a chat run's turn (message and conversation
        variables), and the final row read back (RETURNING)."""
        now = utcnow()
        created = as_utc(run.created_at) or now
        with batch.lock:
            rows, batch.nodes = batch.nodes, []
        values = {"fin_run_id": lease.run_id, "fin_epoch": lease.epoch, "fin_status": str(outcome.status),
                  "fin_outputs": outcome.outputs, "fin_error": outcome.error, "fin_steps": outcome.total_steps,
                  "fin_tokens": outcome.total_tokens, "fin_nanos": sum(nanos for _, nanos in rows),
                  "fin_exceptions": outcome.exceptions_count, "fin_now": now,
                  "fin_elapsed": (now - created).total_seconds(),
                  "fin_currency": self._recorder.pricing.currency if self._recorder else "USD"}
        if turn is None:
            with direct(self._engine) as db:
                final = _finish_row(db, values, rows)
        else:  # the turn's writes need a session: the same statements run in its transaction
            with transaction(self._sessions) as session:
                final = _finish_row(session_direct(session), values, rows)
                if final is not None:
                    turn(session)
        if final is None:
            return None  # the lease was lost: another attempt owns the run
        batch.events.add(run_views.workflow_finished(final), urgent=True)
        if batch.events.holding:  # the log is down; the row is final: followers read it when the log stays silent
            log.warning("event log unavailable at the run's end", extra={"run_id": run.id})
        run_metrics.run_finished(final)
        return outcome.status


def _finish_row(db: Direct, values: dict[str, Any], rows: list[tuple[dict[str, Any], int]]) -> WorkflowRun | None:
    """The fenced final update and the held node rows; the final row (for the event and metrics), or None when
    the lease was lost."""
    row = db.first(_FINISH, values)
    if row is None:
        return None
    _insert_nodes(db, rows)
    return unattached(WorkflowRun, row)


def _insert_nodes(db: Direct, rows: list[tuple[dict[str, Any], int]]) -> None:
    # Multi-row INSERTs of NODE_INSERT_ROWS rows at most, compiled once per row count: cheaper than an
    # executemany (a pipeline of one statement per row on Postgres); the rows are new and never read back.
    for start in range(0, len(rows), NODE_INSERT_ROWS):
        chunk = rows[start:start + NODE_INSERT_ROWS]
        statement = _NODE_INSERTS.get(len(chunk))
        if statement is None:
            statement = _NODE_INSERTS[len(chunk)] = _node_insert(len(chunk))
        values = {key: chunk[0][0][key] for key in _NODE_SHARED}
        values.update((f"{key}_{index}", row[key]) for index, (row, _) in enumerate(chunk) for key in _NODE_OWN)
        db.execute(statement, values)


def _node_insert(count: int) -> Prepared:
    """INSERT INTO node_executions of `count` rows of one attempt: `run_id` and `epoch` bound once, the other
    values as `<column>_<row>`; a row's `created_at` is its `finished_at` (a node's row is made when it ends)."""
    table = NodeExecution.__table__
    return Prepared(insert(table).values([
        {"run_id": bindparam("run_id", type_=table.c.run_id.type),
         "epoch": bindparam("epoch", type_=table.c.epoch.type),
         "created_at": bindparam(f"finished_at_{index}", type_=table.c.finished_at.type),
         **{key: bindparam(f"{key}_{index}", type_=table.c[key].type) for key in _NODE_OWN}}
        for index in range(count)]))


_NODE_SHARED = ("run_id", "epoch")
_NODE_OWN = tuple(column.key for column in NodeExecution.__table__.c
                  if column.key not in _NODE_SHARED and column.key != "created_at")
# psycopg parses the text of a statement with more than 50 parameters again on every call (it caches only
# smaller ones), which cost more than a second statement: 3 rows take 2 + 3 x 16 (issue 18).
NODE_INSERT_ROWS = 3
_NODE_INSERTS: dict[int, Prepared] = {}

# The fenced writes of every run, compiled once and run on the DBAPI connection (app/db.py): a Session's
# transaction and statement handling around them cost more CPU than executing them (issue 18). Bound names
# differ from the columns' own (SQLAlchemy reserves those for the SET clause).
_RUNS = WorkflowRun.__table__
_CHECKPOINT = Prepared(update(_RUNS)
                       .where(_RUNS.c.id == bindparam("cp_run_id"), _RUNS.c.epoch == bindparam("cp_epoch"),
                              _RUNS.c.status == "running")
                       .values(total_tokens=_RUNS.c.total_tokens + bindparam("cp_tokens"),
                               total_price_nanos=_RUNS.c.total_price_nanos + bindparam("cp_nanos")))
_STOP_CHECK = Prepared(select(_RUNS.c.stop_requested, _RUNS.c.epoch).where(_RUNS.c.id == bindparam("stop_run_id")))
_FINISH = Prepared(update(_RUNS)
                   .where(_RUNS.c.id == bindparam("fin_run_id"), _RUNS.c.epoch == bindparam("fin_epoch"))
                   .values(status=bindparam("fin_status"), outputs=bindparam("fin_outputs"),
                           error=bindparam("fin_error"), total_steps=bindparam("fin_steps"),
                           total_tokens=bindparam("fin_tokens"),
                           total_price_nanos=_RUNS.c.total_price_nanos + bindparam("fin_nanos"),
                           exceptions_count=bindparam("fin_exceptions"), finished_at=bindparam("fin_now"),
                           elapsed_time=bindparam("fin_elapsed"), lease_owner=None, lease_expires_at=None,
                           price_currency=bindparam("fin_currency"))
                   .returning(*_RUNS.c))


def _record(row: NodeExecution) -> NodeRecord:
    return NodeRecord(execution_id=row.id, node_id=row.node_id, node_type=row.node_type, title=row.title,
                      index=row.index, predecessor_node_id=row.predecessor_node_id, status=NodeStatus(row.status),
                      inputs=row.inputs, process_data=row.process_data, outputs=row.outputs,
                      edge_handle=row.edge_handle or "source", error=row.error, elapsed_time=row.elapsed_time,
                      total_tokens=row.total_tokens, metadata=dict(row.execution_metadata or {}))
