"""A node of a type Trellis does not implement. Import keeps it (the rest of the graph is checked as usual and
the import reports it as a warning), and only a run that reaches it fails, naming the type."""

from __future__ import annotations

from app.engine.dsl import NodeSpec
from app.engine.nodes.base import Node, NodeContext, NodeResult
from app.errors import WorkflowError


class UnknownNode(Node):
    type = "unknown"
    # Its edges may leave by handles only its real type knows (branches, classes), so any handle is accepted.
    any_handle = True

    def __init__(self, spec: NodeSpec) -> None:
        super().__init__(spec)
        self.type = spec.type  # type: ignore[misc]  # the exported type, so events and errors name it

    def run(self, ctx: NodeContext) -> NodeResult:
        raise WorkflowError(f"node {self.id} ({self.title}) has type {self.type!r}, which Trellis does not "
                            "support yet; a run cannot pass it")
