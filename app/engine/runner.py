"""The graph runner: executes ready nodes (several at once on parallel branches), propagates skips on
untaken branches, checkpoints every finished node and resumes from restored checkpoints.

A node runs once all its incoming edges are resolved and at least one was taken; a node whose incoming edges
were all skipped is skipped, and so are its descendants that nothing else reaches. A failing node is retried
per its `retry_config`; if it still fails, its `error_strategy` may turn the failure into an `exception`
status (the run then ends `partial-succeeded`). Iteration and loop bodies run as child runners on a fork of
the pool, sharing the run's deadline, step budget and execution indexes. Secret environment values are
masked in every published event. Branch threads run in a copy of the scheduler's context, so the log context
(run, app, request ids) follows them, and `node_id` is bound while each node runs. Imports no database, web or
queue library (`app.logs` is the standard library's logging with a contextvar).
"""

from __future__ import annotations

import contextvars
import dataclasses
import itertools
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from app.engine import failure
from app.engine.events import AgentLog, EngineEvent, NodeFinished, NodeStarted, TextChunk
from app.engine.graph import Graph
from app.engine.masking import Masker
from app.engine.nodes.base import BodyResult, Node, NodeContext, NodeResult
from app.engine.ports import EnginePorts
from app.engine.state import NodeRecord, NodeStatus, RunOutcome, RunStatus
from app.engine.variables import VariablePool
from app.errors import RunStopped, TrellisError, WorkflowError
from app.logs import bind


@dataclass(frozen=True)
class Limits:
    """Dify's defaults; all configurable from settings."""

    max_steps: int = 500
    max_seconds: float = 1200.0
    parallelism: int = 8
    max_call_depth: int = 5
    max_variable_bytes: int = 200 * 1024
    max_loop_count: int = 100


class _Abort(Exception):
    def __init__(self, status: RunStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Shared:
    """State one run shares with the child runners of its iterations and loops."""

    def __init__(self, limits: Limits, masker: Masker, inputs: dict[str, Any], first_index: int) -> None:
        self.deadline = time.monotonic() + limits.max_seconds
        self.masker = masker
        self.inputs = inputs
        # next() on a count is atomic under the GIL, so branch threads get distinct indexes.
        self.counter = itertools.count(first_index)
        self._steps = 0
        self._lock = threading.Lock()

    def take_step(self) -> int:
        with self._lock:
            self._steps += 1
            return self._steps


def _stamped(log: AgentLog, record: NodeRecord) -> AgentLog:
    return dataclasses.replace(log, node_execution_id=record.execution_id)


def _no_checkpoint(record: NodeRecord) -> None:
    # Body nodes are not checkpointed: a resumed run re-runs the whole container.
    return None


class _Body:
    """The BodyRunner handed to container nodes: runs a body graph once on a fork of the pool."""

    def __init__(self, parent: GraphRunner) -> None:
        self._parent = parent
        self.max_loop_count = parent.limits.max_loop_count

    def run(self, body: Any, values: dict[tuple[str, str], Any], meta: dict[str, Any]) -> BodyResult:
        parent = self._parent
        if parent.depth + 1 > parent.limits.max_call_depth:
            raise WorkflowError(f"Max call depth {parent.limits.max_call_depth} reached (nested iterations/loops).")
        pool = parent.pool.fork()
        for (node_id, name), value in values.items():
            pool.set(node_id, name, value)
        child = GraphRunner(body, dataclasses.replace(parent.ports, checkpoint=_no_checkpoint), parent.limits)
        child.pool, child.depth, child.meta = pool, parent.depth + 1, meta
        outcome = child.execute(parent.shared, ())
        if outcome.status == RunStatus.stopped:
            raise RunStopped()
        return BodyResult(pool=pool, failed=outcome.status == RunStatus.failed, error=outcome.error,
                          total_tokens=outcome.total_tokens,
                          reached_loop_end=any(r.node_type == "loop-end" for r in child.records.values()))


class GraphRunner:
    """Runs one graph once. Not reusable across runs; create one per execution."""

    shared: _Shared  # set when execution starts (by `run`, or by the parent of a body)

    def __init__(self, graph: Graph, ports: EnginePorts, limits: Limits | None = None,
                 branches: Executor | None = None) -> None:
        """`branches` runs this graph's parallel branches (a worker shares one across its runs, so no pool is
        created per run); without it the runner makes its own on first need. Child runners of iterations and
        loops always make their own: a body waits on its branches from inside a branch, and waiting on a
        shared bounded pool from one of its own threads could deadlock."""
        self.graph = graph
        self.ports = ports
        self.limits = limits or Limits()
        self.pool = VariablePool()
        self.depth = 0
        self.meta: dict[str, Any] = {}
        self.records: dict[str, NodeRecord] = {}
        self._edge_taken: dict[int, bool] = {}
        self._skipped: set[str] = set()
        self._ready: deque[tuple[str, str | None]] = deque()
        self._branches = branches
        self._executor: ThreadPoolExecutor | None = None
        self._exceptions = 0

    def run(self, inputs: dict[str, Any], system: dict[str, Any] | None = None, env: dict[str, Any] | None = None,
            restored: Iterable[NodeRecord] = (), conversation: dict[str, Any] | None = None) -> RunOutcome:
        """Execute the graph. `env` overrides the DSL's environment variables, `conversation` the declared
        conversation variable defaults (assigners update them in `self.pool` under `conversation`).
        `restored` holds checkpoints of a previous attempt: those nodes are not run again and emit no events.
        Never raises for node failures; they end in the outcome."""
        for key, value in (system or {}).items():
            self.pool.set("sys", key, value)
        environment = {**self.graph.environment, **(env or {})}
        for key, value in environment.items():
            self.pool.set("env", key, value)
        for key, value in {**self.graph.conversation, **(conversation or {})}.items():
            self.pool.set("conversation", key, value)
        restored_list = [r for r in restored if r.status == NodeStatus.succeeded]
        masker = Masker(v for k, v in environment.items() if k in self.graph.secret_names)
        shared = _Shared(self.limits, masker, inputs, max((r.index for r in restored_list), default=0) + 1)
        return self.execute(shared, restored_list)

    def execute(self, shared: _Shared, restored: Iterable[NodeRecord]) -> RunOutcome:
        """Run from the start node with the pool as it is (child runners enter here)."""
        self.shared = shared
        restored_by_node = {r.node_id: r for r in restored}
        self._ready.append((self.graph.start_id, None))
        try:
            self._loop(restored_by_node)
        except _Abort as abort:
            return self._outcome(abort.status, abort.message)
        finally:
            if self._executor:
                self._executor.shutdown(wait=True, cancel_futures=True)
        return self._outcome(RunStatus.succeeded, None)

    # -- scheduling -------------------------------------------------------------------------------------------

    def _loop(self, restored: dict[str, NodeRecord]) -> None:
        in_flight: dict[Future[NodeRecord], str] = {}
        try:
            self._schedule(restored, in_flight)
        finally:
            # Only on an unexpected error are branches still in flight: drop the queued, await the running
            # (what shutting down a per-run pool did; a shared pool outlives the run).
            for future in in_flight:
                future.cancel()
            wait(in_flight)

    def _schedule(self, restored: dict[str, NodeRecord], in_flight: dict[Future[NodeRecord], str]) -> None:
        failure_: _Abort | None = None
        while (self._ready and failure_ is None) or in_flight:
            # At most `parallelism` branches of this run at once (a shared pool serves every run of a worker).
            while self._ready and failure_ is None and len(in_flight) < self.limits.parallelism:
                node_id, predecessor = self._ready.popleft()
                if node_id in restored:
                    self._accept(restored[node_id])
                    continue
                failure_ = self._check_limits()
                if failure_:
                    break
                node = self.graph.nodes[node_id]
                if not in_flight and not self._ready:
                    # The common linear case runs inline: no thread hop per node.
                    failure_ = self._finish(self._execute(node, predecessor), alone=self.depth == 0)
                else:
                    # Pool threads do not inherit contextvars: each branch runs in its own copy of this
                    # thread's context (a context can be entered by one thread at a time), so its log lines
                    # carry the run's ids.
                    context = contextvars.copy_context()
                    in_flight[self._pool().submit(context.run, self._execute, node, predecessor)] = node_id
            if in_flight:
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    in_flight.pop(future)
                    alone = self.depth == 0 and not in_flight and not self._ready
                    failure_ = self._finish(future.result(), alone) or failure_
        if failure_:
            raise failure_

    def _pool(self) -> Executor:
        if self._branches is not None:
            return self._branches
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.limits.parallelism, thread_name_prefix="branch")
        return self._executor

    def _check_limits(self) -> _Abort | None:
        if self.ports.should_stop():
            return _Abort(RunStatus.stopped, RunStopped.default_message)
        if self.shared.take_step() > self.limits.max_steps:
            return _Abort(RunStatus.failed, f"Max steps {self.limits.max_steps} reached.")
        if time.monotonic() > self.shared.deadline:
            return _Abort(RunStatus.failed, f"Max execution time {self.limits.max_seconds:g}s reached.")
        return None

    def _emit(self, event: EngineEvent) -> None:
        self.ports.emit(self.shared.masker.event(event))

    def _emit_chunk(self, text: str, selector: tuple[str, ...]) -> None:
        # Once per streamed delta: one call less than through `_emit`, and no masking without secrets (issue 18).
        masker = self.shared.masker
        self.ports.emit(TextChunk(masker.mask(text) if masker else text, selector))

    def _finish(self, record: NodeRecord, alone: bool) -> _Abort | None:
        """Runs on the scheduler thread: checkpoint, publish, then release successors. `alone`: nothing else of
        the run is in flight or ready (see NodeFinished.next_at_once); never in a body, whose iteration may run
        other items in parallel."""
        self.ports.checkpoint(record)
        self._emit(NodeFinished(record, next_at_once=alone))
        if record.status == NodeStatus.stopped:
            self.records[record.node_id] = record
            return _Abort(RunStatus.stopped, RunStopped.default_message)
        if record.status == NodeStatus.failed:
            self.records[record.node_id] = record
            return _Abort(RunStatus.failed, record.error or "node failed")
        if record.status == NodeStatus.exception:
            self._exceptions += 1
        self._accept(record)
        return None

    def _accept(self, record: NodeRecord) -> None:
        self.records[record.node_id] = record
        self.pool.set_node_outputs(record.node_id, record.outputs or {})
        # Assigners (and containers passing on their body's writes) report variable writes in process_data,
        # so a restored checkpoint re-applies them too.
        for update in (record.process_data or {}).get("updated_variables") or []:
            selector = update.get("selector") if isinstance(update, dict) else None
            if isinstance(selector, list) and len(selector) >= 2:
                self.pool.set(str(selector[0]), str(selector[1]), update.get("new_value"))
        for edge in self.graph.out_edges.get(record.node_id, []):
            self._edge_taken[id(edge)] = edge.source_handle == record.edge_handle
            self._resolve(edge.target)

    def _resolve(self, node_id: str) -> None:
        # A worklist, not recursion: skipping a branch walks everything behind it, and a long chain must not
        # reach Python's recursion limit (issue 14).
        pending = [node_id]
        while pending:
            current = pending.pop()
            incoming = self.graph.in_edges.get(current, [])
            states = [self._edge_taken.get(id(e)) for e in incoming]
            if any(s is None for s in states) or current in self.records or current in self._skipped:
                continue
            taken = [e for e in incoming if self._edge_taken[id(e)]]
            if taken:
                self._ready.append((current, taken[0].source))
                continue
            self._skipped.add(current)
            out = self.graph.out_edges.get(current, [])
            for edge in out:
                self._edge_taken[id(edge)] = False
            pending.extend(edge.target for edge in reversed(out))

    # -- execution (may run on a branch thread) ---------------------------------------------------------------

    def _execute(self, node: Node, predecessor: str | None) -> NodeRecord:
        record = NodeRecord(execution_id=str(uuid.uuid4()), node_id=node.id, node_type=node.type, title=node.title,
                            index=next(self.shared.counter), predecessor_node_id=predecessor,
                            status=NodeStatus.running, started_at=time.time(), metadata=dict(self.meta))
        with bind(node_id=node.id):
            return self._run_node(node, record)

    def _run_node(self, node: Node, record: NodeRecord) -> NodeRecord:
        self._emit(NodeStarted(record))
        ctx = NodeContext(pool=self.pool, llm=self.ports.llm, should_stop=self.ports.should_stop,
                          emit_chunk=self._emit_chunk,
                          emit_log=lambda log: self._emit(_stamped(log, record)),
                          run_inputs=self.shared.inputs, services=self.ports.services,
                          workspace_id=self.ports.workspace_id, body=_Body(self))
        started = time.perf_counter()
        result, status, error, error_type, retries = self._attempts(node, ctx)
        if status == NodeStatus.failed:
            recovered = failure.recover(node.data, error or "node failed", error_type)
            if recovered is not None:
                result, status = recovered, NodeStatus.exception
        done = dataclasses.replace(record, status=status, error=error, finished_at=time.time(),
                                   elapsed_time=time.perf_counter() - started)
        if result is not None:
            done.inputs, done.process_data, done.outputs = result.inputs, result.process_data, result.outputs
            done.edge_handle, done.total_tokens = result.edge_handle, result.total_tokens
            done.metadata = {**self.meta, **result.metadata}
        if retries:
            done.metadata = {**done.metadata, "retry_count": retries}
        return done

    def _attempts(self, node: Node, ctx: NodeContext) -> tuple[NodeResult | None, NodeStatus, str | None, str, int]:
        retry = node.data.retry_config
        allowed = retry.max_retries if retry.retry_enabled else 0
        attempt = 0
        while True:
            result, status, error, error_type = self._attempt(node, ctx)
            # No retry that would start past the run's deadline: the node fails now with its own error, rather
            # than the run later with a bare time limit.
            late = time.monotonic() + retry.retry_interval / 1000 > self.shared.deadline
            if status != NodeStatus.failed or attempt >= allowed or late:
                return result, status, error, error_type, attempt
            attempt += 1
            if self._sleep(retry.retry_interval / 1000):
                return None, NodeStatus.stopped, RunStopped.default_message, "", attempt

    def _attempt(self, node: Node, ctx: NodeContext) -> tuple[NodeResult | None, NodeStatus, str | None, str]:
        try:
            if node.dangling:
                raise WorkflowError(f"node {node.id} ({node.title}) reads variables of nodes that are not in this "
                                    f"workflow: {', '.join(node.dangling)}")
            result = node.run(ctx)
            self._check_size(result.outputs)
            return result, NodeStatus.succeeded, None, ""
        except RunStopped as exc:
            return None, NodeStatus.stopped, exc.message, ""
        except TrellisError as exc:
            return None, NodeStatus.failed, exc.message, type(exc).__name__
        except Exception as exc:  # a node's own bug must fail the node, not the worker
            return None, NodeStatus.failed, f"{type(exc).__name__}: {exc}", type(exc).__name__

    def _sleep(self, seconds: float) -> bool:
        """Wait between retries; True when a stop was requested meanwhile."""
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            if self.ports.should_stop():
                return True
            time.sleep(min(0.05, max(0.0, until - time.monotonic())))
        return self.ports.should_stop()

    def _check_size(self, outputs: dict[str, Any]) -> None:
        limit = self.limits.max_variable_bytes
        for key, value in outputs.items():
            if isinstance(value, str):
                size = len(value) if len(value) * 4 <= limit else len(value.encode())
            elif isinstance(value, list | dict):
                size = len(json.dumps(value, ensure_ascii=False, default=str))
            else:
                continue
            if size > limit:
                raise WorkflowError(f"Output {key} is {size} bytes, over the variable size limit of {limit} bytes.")

    # -- outcome -------------------------------------------------------------------------------------------

    def _outcome(self, status: RunStatus, error: str | None) -> RunOutcome:
        ordered = sorted(self.records.values(), key=lambda r: r.index)
        outputs: dict[str, Any] = {}
        for record in ordered:
            if record.node_type == "end" and record.status == NodeStatus.succeeded:
                outputs.update(record.outputs or {})
        if status == RunStatus.succeeded and self._exceptions:
            status = RunStatus.partial_succeeded
        # Secrets are masked in what leaves the run, too: outputs and the error reach API responses.
        masker = self.shared.masker
        return RunOutcome(status=status, outputs=masker.mask(outputs), error=masker.mask(error),
                          total_tokens=sum(r.total_tokens for r in ordered), total_steps=len(ordered),
                          exceptions_count=self._exceptions)
