"""Events the runner emits while a graph executes. The service layer stamps them with run and task ids and
turns them into Dify's SSE payloads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.engine.state import NodeRecord


@dataclass(frozen=True)
class NodeStarted:
    record: NodeRecord


@dataclass(frozen=True)
class NodeFinished:
    """`next_at_once`: no other branch of this runner is in flight, so what follows (the successors starting, or
    the runner's end) comes at once, without waiting on anything slow: a sink may hold this event for it."""

    record: NodeRecord
    next_at_once: bool = False


@dataclass(frozen=True)
class TextChunk:
    text: str
    from_variable_selector: tuple[str, ...]


@dataclass(frozen=True)
class AgentLog:
    """One step of an agent node (a round, a model call, a tool call) as it starts or ends: Dify's `agent_log`.
    Steps nest through `parent_id`; `status` is start | success | error. The runner fills `node_execution_id`."""

    node_id: str
    id: str
    label: str
    status: str
    parent_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    node_execution_id: str = ""


EngineEvent = NodeStarted | NodeFinished | TextChunk | AgentLog
