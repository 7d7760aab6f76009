"""A run laid out as its builder drew it: every node of the workflow at its DSL position (Dify exports each
node's `position`, `width`, `height`, and `parentId` for iteration and loop bodies, whose positions are
relative to their container), with this run's executions of it: status, time, tokens, inputs, process data,
outputs and error, and the rounds of iteration and loop bodies. Nodes a DSL gives no position are laid out
left to right by depth.

Every field shown is masked like the audit log (secret environment values and key-shaped strings) and cut
to the audit field limit. Scoped by workspace: another workspace's run is not found.
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.engine.masking import Masker
from app.errors import NotFound
from app.logs import mask_keys
from app.models import NodeExecution, WorkflowRun
from app.models.apps import WorkflowVersion
from app.providers.events import EventLog
from app.services.audit import truncate

NODE_WIDTH, NODE_HEIGHT = 240.0, 90.0
GAP_X, GAP_Y = 300.0, 130.0
MAX_EVENT_PAGES = 50  # of up to 1000 events each


class RunGraphs:
    def __init__(self, sessions: sessionmaker[Session], events: EventLog) -> None:
        self._sessions = sessions
        self._events = events

    def view(self, workspace_id: str, run_id: str, field_limit: int) -> dict[str, Any]:
        """The run, its workflow's nodes (with positions and executions) and edges. Raises NotFound."""
        with self._sessions() as session:
            run = session.scalars(select(WorkflowRun).where(WorkflowRun.id == run_id,
                                                            WorkflowRun.workspace_id == workspace_id)).first()
            if run is None:
                raise NotFound("Workflow run not found")
            version = session.get(WorkflowVersion, run.workflow_version_id)
            rows = session.scalars(select(NodeExecution).where(NodeExecution.run_id == run_id)
                                   .order_by(NodeExecution.index, NodeExecution.finished_at)).all()
        doc = yaml.safe_load(version.dsl) if version is not None else {}
        graph = ((doc or {}).get("workflow") or {}).get("graph") or {}
        secrets = [v.get("value") for v in ((doc or {}).get("workflow") or {}).get("environment_variables") or []
                   if isinstance(v, dict) and v.get("value_type") == "secret"]
        shown = _Shown(Masker(secrets), field_limit)
        executions: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            executions[row.node_id].append(shown.execution(_row_view(row)))
        # Iteration and loop bodies are not checkpointed, and a running node has no row yet: both are in the
        # run's event log.
        known = {row.id for row in rows}
        for execution in self._from_events(run_id, known):
            executions[execution["node_id"]].append(shown.execution(execution))
        nodes = [_node(spec, executions.get(str(spec.get("id")), [])) for spec in graph.get("nodes") or []
                 if isinstance(spec, dict) and spec.get("id")]
        edges = [{"source": str(e.get("source")), "target": str(e.get("target")),
                  "source_handle": str(e.get("sourceHandle") or "source")}
                 for e in graph.get("edges") or [] if isinstance(e, dict)]
        _place_unpositioned(nodes, edges)
        canvas = _absolute(nodes)
        return {"canvas": canvas, "id": run.id, "app_id": run.app_id, "status": run.status,
                "error": shown.text(run.error),
                "total_tokens": run.total_tokens, "total_steps": run.total_steps, "elapsed_time": run.elapsed_time,
                "attempts": run.attempts, "trace_id": (run.trace or {}).get("trace_id"),
                "nodes": nodes, "edges": edges}


    def _from_events(self, run_id: str, known: set[str]) -> list[dict[str, Any]]:
        started: dict[str, dict[str, Any]] = {}
        finished: dict[str, dict[str, Any]] = {}
        after = None
        for _ in range(MAX_EVENT_PAGES):
            batch = self._events.read(run_id, after, 0.001)
            if not batch:
                break
            after = batch[-1][0]
            for _id, payload in batch:
                data = payload.get("data") or {}
                if data.get("id") in known:
                    continue
                if payload.get("event") == "node_started":
                    started[data["id"]] = {**data, "status": "running"}
                elif payload.get("event") == "node_finished":
                    finished[data["id"]] = data
        merged = {**started, **finished}
        return sorted(merged.values(), key=lambda d: d.get("index") or 0)


def _row_view(row: NodeExecution) -> dict[str, Any]:
    return {"id": row.id, "node_id": row.node_id, "index": row.index, "status": row.status, "error": row.error,
            "elapsed_time": row.elapsed_time, "total_tokens": row.total_tokens, "inputs": row.inputs,
            "process_data": row.process_data, "outputs": row.outputs,
            "execution_metadata": dict(row.execution_metadata or {})}


class _Shown:
    """Masks and cuts what a person or a script is shown."""

    def __init__(self, masker: Masker, limit: int) -> None:
        self._masker, self._limit = masker, limit

    def text(self, value: str | None) -> str | None:
        return mask_keys(self._masker.mask(value)) if value else value

    def data(self, value: Any) -> Any:
        return truncate(_mask_keys_deep(self._masker.mask(value)), self._limit)

    def execution(self, x: dict[str, Any]) -> dict[str, Any]:
        """A row or a `node_finished`/`node_started` event's data, as shown."""
        meta = dict(x.get("execution_metadata") or {})
        tokens = x.get("total_tokens", meta.get("total_tokens")) or 0
        return {"id": x.get("id"), "index": x.get("index"), "status": x.get("status"),
                "error": self.text(x.get("error")), "elapsed_time": x.get("elapsed_time") or 0.0,
                "total_tokens": tokens, "iteration_index": meta.get("iteration_index"),
                "loop_index": meta.get("loop_index"), "inputs": self.data(x.get("inputs")),
                "process_data": self.data(x.get("process_data")), "outputs": self.data(x.get("outputs")),
                "execution_metadata": self.data(meta)}


def _mask_keys_deep(value: Any) -> Any:
    if isinstance(value, str):
        return mask_keys(value)
    if isinstance(value, dict):
        return {k: _mask_keys_deep(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_keys_deep(v) for v in value]
    return value


def _node(spec: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    data = spec.get("data") or {}
    position = spec.get("position") if isinstance(spec.get("position"), dict) else None
    # The node's state in this run: its last execution (a retried run may hold an abandoned attempt's row).
    last = runs[-1] if runs else None
    failed = next((r for r in runs if r["status"] in ("failed", "exception")), None)
    status = (failed or last or {}).get("status") or "not run"
    return {"id": str(spec["id"]), "type": str(data.get("type") or ""), "title": str(data.get("title") or spec["id"]),
            "parent_id": spec.get("parentId"), "positioned": position is not None,
            "x": float((position or {}).get("x") or 0), "y": float((position or {}).get("y") or 0),
            "width": float(spec.get("width") or NODE_WIDTH), "height": float(spec.get("height") or NODE_HEIGHT),
            "status": status, "elapsed_time": round(sum(r["elapsed_time"] or 0 for r in runs), 4),
            "total_tokens": sum(r["total_tokens"] or 0 for r in runs), "executions": runs}


def _place_unpositioned(nodes: list[dict[str, Any]], edges: list[dict[str, str]]) -> None:
    """Columns by distance from the start for top-level nodes the DSL did not place; body nodes without a
    position go in a row inside their container."""
    loose = [n for n in nodes if not n["positioned"]]
    if not loose:
        return
    ids = {n["id"] for n in nodes}
    targets: dict[str, list[str]] = defaultdict(list)
    incoming: set[str] = set()
    for edge in edges:
        if edge["source"] in ids and edge["target"] in ids:
            targets[edge["source"]].append(edge["target"])
            incoming.add(edge["target"])
    depth: dict[str, int] = {}
    queue = deque((n["id"], 0) for n in nodes if n["id"] not in incoming)
    while queue:
        node_id, d = queue.popleft()
        if depth.get(node_id, -1) >= d or d > len(nodes):
            continue
        depth[node_id] = d
        queue.extend((t, d + 1) for t in targets[node_id])
    rows: dict[tuple[str | None, int], int] = defaultdict(int)
    for node in loose:
        column = depth.get(node["id"], 0)
        row = rows[(node["parent_id"], column)]
        rows[(node["parent_id"], column)] += 1
        # Inside a container, below its title and figures.
        node["x"], node["y"] = column * GAP_X + (20 if node["parent_id"] else 0), row * GAP_Y + (
            70 if node["parent_id"] else 0)


def _absolute(nodes: list[dict[str, Any]]) -> dict[str, float]:
    """Grow containers around their bodies, set each node's absolute `left`/`top` (bodies are placed
    relative to their container) and return the drawing's bounds."""
    by_id = {n["id"]: n for n in nodes}
    for node in nodes:
        children = [c for c in nodes if c["parent_id"] == node["id"]]
        if children:
            node["width"] = max(node["width"], max(c["x"] + c["width"] for c in children) + 20)
            node["height"] = max(node["height"], max(c["y"] + c["height"] for c in children) + 20)
    for node in nodes:
        parent = by_id.get(str(node["parent_id"])) if node["parent_id"] else None
        node["left"] = node["x"] + (parent["x"] if parent else 0)
        node["top"] = node["y"] + (parent["y"] if parent else 0)
    if not nodes:
        return {"left": 0.0, "top": 0.0, "width": 100.0, "height": 100.0}
    left = min(n["left"] for n in nodes) - 20
    top = min(n["top"] for n in nodes) - 20
    return {"left": left, "top": top, "width": max(n["left"] + n["width"] for n in nodes) - left + 20,
            "height": max(n["top"] + n["height"] for n in nodes) - top + 20}
