"""The contract every node type implements, and the context a node runs in."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from app.engine.dsl import NodeSpec
from app.engine.ports import LLMGateway, NodeServices
from app.engine.variables import VariablePool
from app.errors import InvalidParam


class NodeData(BaseModel):
    """Base of every node's typed `data`; unknown keys from real exports are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    title: str = ""


@dataclass
class NodeContext:
    pool: VariablePool
    llm: LLMGateway
    emit_chunk: Callable[[str, tuple[str, ...]], None]
    should_stop: Callable[[], bool]
    run_inputs: dict[str, Any] = field(default_factory=dict)
    services: NodeServices = field(default_factory=NodeServices)
    workspace_id: str = ""


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

    def __init__(self, spec: NodeSpec) -> None:
        self.id = spec.id
        self.title = spec.title
        try:
            self.data = self.data_model.model_validate(spec.data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidParam(f"node {spec.id} ({self.type}): {where}: {first['msg']}", params=spec.id) from exc

    def selectors(self) -> list[list[str]]:
        """Every variable selector this node reads; checked against the graph at import."""
        return []

    def source_handles(self) -> list[str] | None:
        """The handles this node can leave by, or None when it only has the plain `source` handle."""
        return None

    @abstractmethod
    def run(self, ctx: NodeContext) -> NodeResult:
        """Execute the node. Raise a TrellisError (or any exception) to fail it."""
