"""`iteration` and its body's entry marker `iteration-start`: runs the body once per item of a list,
sequentially or `is_parallel` with up to `parallel_nums` at once, and outputs `output`, the values at
`output_selector` in item order (flattened one level when `flatten_output` and every value is a list).

Body nodes read the current item and index at `[iteration_id, "item"]` / `[iteration_id, "index"]`. A failed
item ends the node (`terminated`), yields None (`continue-on-error`) or is dropped (`remove-abnormal-output`).
`iteration-start` lives here, not in a file of its own, because it only marks where a body begins.
"""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import Field

from app.engine.nodes.base import BodyResult, Node, NodeContext, NodeData, NodeResult
from app.errors import WorkflowError

TERMINATED, CONTINUE, REMOVE = "terminated", "continue-on-error", "remove-abnormal-output"
_DROP = object()


class IterationData(NodeData):
    iterator_selector: list[str] = Field(default_factory=list)
    output_selector: list[str] = Field(default_factory=list)
    is_parallel: bool = False
    parallel_nums: int = Field(default=10, ge=1, le=100)
    error_handle_mode: str = TERMINATED
    flatten_output: bool = True
    start_node_id: str = ""


class IterationStartNode(Node):
    type = "iteration-start"

    def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(inputs={}, outputs={})


def conversation_updates(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Conversation variables a body changed, as `updated_variables` entries for the runner to apply."""
    return [{"name": k, "selector": ["conversation", k], "new_value": v}
            for k, v in after.items() if k not in before or before[k] != v]


class IterationNode(Node):
    type = "iteration"
    data_model = IterationData
    data: IterationData
    body: Any = None

    def attach_body(self, body: Any) -> None:
        self.body = body

    def selectors(self) -> list[list[str]]:
        return [s for s in (self.data.iterator_selector, self.data.output_selector) if s]

    def _one(self, ctx: NodeContext, index: int, item: Any) -> tuple[Any, BodyResult]:
        assert ctx.body is not None
        values = {(self.id, "item"): item, (self.id, "index"): index}
        result = ctx.body.run(self.body, values, {"iteration_id": self.id, "iteration_index": index})
        if not result.failed:
            return result.pool.get(self.data.output_selector), result
        if self.data.error_handle_mode == CONTINUE:
            return None, result
        if self.data.error_handle_mode == REMOVE:
            return _DROP, result
        raise WorkflowError(f"iteration {self.id} failed at index {index}: {result.error}")

    def run(self, ctx: NodeContext) -> NodeResult:
        items = ctx.pool.get(self.data.iterator_selector)
        if items is None:
            items = []
        if not isinstance(items, list):
            raise WorkflowError(f"Invalid iterator value: {type(items).__name__}, please provide a list.")
        if self.data.is_parallel and len(items) > 1:
            # Each item runs in a copy of this thread's context, taken here: pool threads start with an empty
            # one, and the log context (run and node ids) must follow the item.
            jobs = [(contextvars.copy_context(), index, item) for index, item in enumerate(items)]
            with ThreadPoolExecutor(min(self.data.parallel_nums, len(items)), thread_name_prefix="iter") as pool:
                done = list(pool.map(lambda job: job[0].run(self._one, ctx, job[1], job[2]), jobs))
        else:
            done = [self._one(ctx, index, item) for index, item in enumerate(items)]
        outputs = [value for value, _ in done if value is not _DROP]
        if self.data.flatten_output and outputs and all(isinstance(v, list) for v in outputs):
            outputs = [v for sub in outputs for v in sub]
        tokens = sum(result.total_tokens for _, result in done)
        before = ctx.pool.node_values("conversation")
        after = done[-1][1].pool.node_values("conversation") if done else before
        return NodeResult(inputs={"iterator_selector": items}, outputs={"output": outputs},
                          process_data={"updated_variables": conversation_updates(before, after)},
                          total_tokens=tokens, metadata={"total_tokens": tokens, "iterations": len(items)})
