"""The contract every node type implements, and the context a node runs in."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.engine.dsl import NodeSpec
from app.engine.events import AgentLog
from app.engine.ports import LLMGateway, NodeServices, ToolRef
from app.engine.variables import VariablePool
from app.errors import InvalidParam


class RetryConfig(BaseModel):
    """`retry_config`: retry a failed node `max_retries` times, `retry_interval` milliseconds apart."""

    model_config = ConfigDict(extra="ignore")

    retry_enabled: bool = False
    max_retries: int = Field(default=0, ge=0, le=10)
    retry_interval: int = Field(default=0, ge=0, le=5000)


class DefaultOutput(BaseModel):
    """One entry of `default_value`: the output `key` a failed node yields under `error_strategy: default-value`."""

    model_config = ConfigDict(extra="ignore")

    key: str
    type: str = "string"
    value: Any = None


class NodeData(BaseModel):
    """Base of every node's typed `data`; unknown keys from real exports are ignored. The error-handling keys
    (`error_strategy`, `default_value`, `retry_config`) are common to every node type and applied by the runner."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    title: str = ""
    error_strategy: str | None = None  # fail-branch | default-value | None
    default_value: list[DefaultOutput] = Field(default_factory=list)
    retry_config: RetryConfig = Field(default_factory=RetryConfig)

    @field_validator("error_strategy", mode="before")
    @classmethod
    def _known_strategy(cls, value: Any) -> Any:
        # The editor writes "none" (or leaves junk) when no strategy is chosen.
        return value if value in ("fail-branch", "default-value") else None


@dataclass
class BodyResult:
    """What one run of a container's body left behind: its pool (to read outputs and loop variables), whether
    it failed and why, its tokens, and whether a `loop-end` node ran."""

    pool: VariablePool
    failed: bool
    error: str | None
    total_tokens: int
    reached_loop_end: bool = False


class BodyRunner(Protocol):
    """Runs a container's body graph on a fork of the run's pool; provided by the runner."""

    max_loop_count: int

    def run(self, body: Any, values: dict[tuple[str, str], Any], meta: dict[str, Any]) -> BodyResult:
        """Run `body` once with `values` set in the forked pool; `meta` annotates the children's records
        (`iteration_id`/`iteration_index` or `loop_id`/`loop_index`)."""
        ...


@dataclass
class NodeContext:
    pool: VariablePool
    llm: LLMGateway
    emit_chunk: Callable[[str, tuple[str, ...]], None]
    should_stop: Callable[[], bool]
    run_inputs: dict[str, Any] = field(default_factory=dict)
    services: NodeServices = field(default_factory=NodeServices)
    workspace_id: str = ""
    body: BodyRunner | None = None
    # Agent steps (Dify's `agent_log`) go out through here; a no-op where nobody listens.
    emit_log: Callable[[AgentLog], None] = lambda log: None


@dataclass
class NodeResult:
    outputs: dict[str, Any]
    inputs: dict[str, Any] | None = None
    process_data: dict[str, Any] | None = None
    edge_handle: str = "source"
    total_tokens: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)


class Node(ABC):
    """One executable node. Built at import time from its spec, so bad node data is a 400 at import."""

    type: ClassVar[str]
    data_model: ClassVar[type[NodeData]] = NodeData
    # Runs in well under a millisecond and touches nothing outside the run's variables, so re-running it is
    # harmless: the executor may write its checkpoint together with the next node's and batch its events.
    quick: ClassVar[bool] = False

    def __init__(self, spec: NodeSpec) -> None:
        self.id = spec.id
        self.title = spec.title
        # Selectors naming nodes that exist nowhere in the workflow (set by the graph builder): Dify imports such
        # exports, so Trellis does too, and a run that reaches this node fails naming them.
        self.dangling: tuple[str, ...] = ()
        try:
            self.data = self.data_model.model_validate(spec.data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidParam(f"node {spec.id} ({self.type}): {where}: {first['msg']}", params=spec.id) from exc

    def selectors(self) -> list[list[str]]:
        """Every variable selector this node reads; checked against the graph at import."""
        return []

    def tool_refs(self) -> list[ToolRef]:
        """The tools this node calls (tool and agent nodes), so an import can report the ones not installed."""
        return []

    def source_handles(self) -> list[str] | None:
        """The handles this node can leave by, or None when it only has the plain `source` handle."""
        return None

    @abstractmethod
    def run(self, ctx: NodeContext) -> NodeResult:
        """Execute the node. Raise a TrellisError (or any exception) to fail it."""
