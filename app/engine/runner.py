"""The graph runner: executes ready nodes (several at once on parallel branches), propagates skips on
untaken branches, checkpoints every finished node and resumes from restored checkpoints.

A node runs once all its incoming edges are resolved and at least one was taken; a node whose incoming edges
were all skipped is skipped, and so are its descendants that nothing else reaches.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections import deque
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from app.engine.events import NodeFinished, NodeStarted, TextChunk
from app.engine.graph import Graph
from app.engine.nodes.base import Node, NodeContext, NodeResult
from app.engine.ports import EnginePorts
from app.engine.state import NodeRecord, NodeStatus, RunOutcome, RunStatus
from app.engine.variables import VariablePool
from app.errors import RunStopped, TrellisError


@dataclass(frozen=True)
class Limits:
    max_steps: int = 500
    max_seconds: float = 1200.0
    parallelism: int = 8


class _Abort(Exception):
    def __init__(self, status: RunStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class GraphRunner:
    """Runs one graph once. Not reusable across runs; create one per execution."""

    def __init__(self, graph: Graph, ports: EnginePorts, limits: Limits | None = None) -> None:
        self.graph = graph
        self.ports = ports
        self.limits = limits or Limits()
        self.pool = VariablePool()
        self._edge_taken: dict[int, bool] = {}
        self._records: dict[str, NodeRecord] = {}
        self._skipped: set[str] = set()
        self._ready: deque[tuple[str, str | None]] = deque()
        self._counter = itertools.count(1)
        self._executor: ThreadPoolExecutor | None = None

    def run(self, inputs: dict[str, Any], system: dict[str, Any] | None = None, env: dict[str, Any] | None = None,
            restored: Iterable[NodeRecord] = ()) -> RunOutcome:
        """Execute the graph. `restored` holds checkpoints of a previous attempt: those nodes are not run again
        and emit no events. Never raises for node failures; they end in the outcome."""
        for key, value in (system or {}).items():
            self.pool.set("sys", key, value)
        for key, value in (env or {}).items():
            self.pool.set("env", key, value)
        restored_by_node = {r.node_id: r for r in restored if r.status == NodeStatus.succeeded}
        # next() on a count is atomic under the GIL, so branch threads get distinct indexes.
        self._counter = itertools.count(max((r.index for r in restored_by_node.values()), default=0) + 1)
        self._inputs = inputs
        self._deadline = time.monotonic() + self.limits.max_seconds
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
        failure: _Abort | None = None
        while (self._ready and failure is None) or in_flight:
            while self._ready and failure is None:
                node_id, predecessor = self._ready.popleft()
                if node_id in restored:
                    self._accept(restored[node_id])
                    continue
                failure = self._check_limits()
                if failure:
                    break
                node = self.graph.nodes[node_id]
                if not in_flight and not self._ready:
                    # The common linear case runs inline: no thread hop per node.
                    failure = self._finish(self._execute(node, predecessor))
                else:
                    in_flight[self._pool().submit(self._execute, node, predecessor)] = node_id
            if in_flight:
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    in_flight.pop(future)
                    failure = self._finish(future.result()) or failure
        if failure:
            raise failure

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.limits.parallelism, thread_name_prefix="branch")
        return self._executor

    def _check_limits(self) -> _Abort | None:
        if self.ports.should_stop():
            return _Abort(RunStatus.stopped, RunStopped.default_message)
        if len(self._records) >= self.limits.max_steps:
            return _Abort(RunStatus.failed, f"Max steps {self.limits.max_steps} reached.")
        if time.monotonic() > self._deadline:
            return _Abort(RunStatus.failed, f"Max execution time {self.limits.max_seconds:g}s reached.")
        return None

    def _finish(self, record: NodeRecord) -> _Abort | None:
        """Runs on the scheduler thread: checkpoint, publish, then release successors."""
        self.ports.checkpoint(record)
        self.ports.emit(NodeFinished(record))
        if record.status == NodeStatus.stopped:
            self._records[record.node_id] = record
            return _Abort(RunStatus.stopped, RunStopped.default_message)
        if record.status != NodeStatus.succeeded:
            self._records[record.node_id] = record
            return _Abort(RunStatus.failed, record.error or "node failed")
        self._accept(record)
        return None

    def _accept(self, record: NodeRecord) -> None:
        self._records[record.node_id] = record
        self.pool.set_node_outputs(record.node_id, record.outputs or {})
        for edge in self.graph.out_edges.get(record.node_id, []):
            self._edge_taken[id(edge)] = edge.source_handle == record.edge_handle
            self._resolve(edge.target)

    def _resolve(self, node_id: str) -> None:
        incoming = self.graph.in_edges.get(node_id, [])
        states = [self._edge_taken.get(id(e)) for e in incoming]
        if any(s is None for s in states) or node_id in self._records or node_id in self._skipped:
            return
        taken = [e for e in incoming if self._edge_taken[id(e)]]
        if taken:
            self._ready.append((node_id, taken[0].source))
            return
        self._skipped.add(node_id)
        for edge in self.graph.out_edges.get(node_id, []):
            self._edge_taken[id(edge)] = False
            self._resolve(edge.target)

    # -- execution (may run on a branch thread) ---------------------------------------------------------------

    def _execute(self, node: Node, predecessor: str | None) -> NodeRecord:
        record = NodeRecord(execution_id=str(uuid.uuid4()), node_id=node.id, node_type=node.type, title=node.title,
                            index=next(self._counter), predecessor_node_id=predecessor, status=NodeStatus.running,
                            started_at=time.time())
        self.ports.emit(NodeStarted(record))
        ctx = NodeContext(pool=self.pool, llm=self.ports.llm, should_stop=self.ports.should_stop,
                          emit_chunk=lambda text, sel: self.ports.emit(TextChunk(text, sel)),
                          run_inputs=self._inputs, services=self.ports.services,
                          workspace_id=self.ports.workspace_id)
        started = time.perf_counter()
        result: NodeResult | None = None
        try:
            result = node.run(ctx)
            status, error = NodeStatus.succeeded, None
        except RunStopped as exc:
            status, error = NodeStatus.stopped, exc.message
        except TrellisError as exc:
            status, error = NodeStatus.failed, exc.message
        except Exception as exc:  # a node's own bug must fail the node, not the worker
            status, error = NodeStatus.failed, f"{type(exc).__name__}: {exc}"
        done = NodeRecord(**{**record.__dict__, "status": status, "error": error,
                             "elapsed_time": time.perf_counter() - started, "finished_at": time.time()})
        if result is not None:
            done.inputs, done.process_data, done.outputs = result.inputs, result.process_data, result.outputs
            done.edge_handle, done.total_tokens = result.edge_handle, result.total_tokens
            done.metadata = result.metadata
        return done

    # -- outcome -------------------------------------------------------------------------------------------

    def _outcome(self, status: RunStatus, error: str | None) -> RunOutcome:
        ordered = sorted(self._records.values(), key=lambda r: r.index)
        outputs: dict[str, Any] = {}
        for record in ordered:
            if record.node_type == "end" and record.status == NodeStatus.succeeded:
                outputs.update(record.outputs or {})
        return RunOutcome(status=status, outputs=outputs, error=error,
                          total_tokens=sum(r.total_tokens for r in ordered), total_steps=len(ordered))
