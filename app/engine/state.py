"""Records the runner produces: one per executed node (the checkpoint unit) and the outcome of a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class NodeStatus(StrEnum):
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    exception = "exception"
    stopped = "stopped"


class RunStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    stopped = "stopped"
    partial_succeeded = "partial-succeeded"

    @property
    def is_final(self) -> bool:
        return self not in (RunStatus.queued, RunStatus.running)


@dataclass
class NodeRecord:
    """A node's execution. Restored records let a resumed run skip nodes that already finished."""

    execution_id: str
    node_id: str
    node_type: str
    title: str
    index: int
    predecessor_node_id: str | None
    status: NodeStatus
    inputs: dict[str, Any] | None = None
    process_data: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    edge_handle: str = "source"
    error: str | None = None
    elapsed_time: float = 0.0
    total_tokens: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    started_at: float = 0.0
    finished_at: float = 0.0


@dataclass
class RunOutcome:
    status: RunStatus
    outputs: dict[str, Any]
    error: str | None
    total_tokens: int
    total_steps: int
    exceptions_count: int = 0
