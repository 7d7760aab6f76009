"""`loop` and its body markers `loop-start` and `loop-end`: runs the body up to `loop_count` rounds (capped
by the run's loop limit, Dify's 100), carrying `loop_variables` from round to round, and stops early when
the `break_conditions` hold (checked before the first round and after each) or a `loop-end` node runs.

Body nodes read and (through an assigner) write loop variables at `[loop_id, label]` and the round number
at `[loop_id, "index"]`. Outputs: the final loop variables plus `loop_round`. The markers live here because
they only delimit the body.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.engine.conditions import compare
from app.engine.nodes.base import Node, NodeContext, NodeData, NodeResult
from app.engine.nodes.if_else import Condition
from app.engine.nodes.iteration import conversation_updates
from app.engine.variables import VariablePool
from app.errors import WorkflowError


class LoopVariable(BaseModel):
    model_config = ConfigDict(extra="ignore")

    label: str
    var_type: str = "string"
    value_type: str = "constant"  # constant | variable
    value: Any = None


class LoopData(NodeData):
    loop_count: int = Field(default=10, ge=0)
    break_conditions: list[Condition] = Field(default_factory=list)
    logical_operator: Literal["and", "or"] = "and"
    loop_variables: list[LoopVariable] = Field(default_factory=list)
    error_handle_mode: str = "terminated"
    start_node_id: str = ""


class LoopStartNode(Node):
    type = "loop-start"

    def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(inputs={}, outputs={})


class LoopEndNode(Node):
    type = "loop-end"

    def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(inputs={}, outputs={})


def _constant(var: LoopVariable) -> Any:
    value = var.value
    if not isinstance(value, str):
        return value
    try:
        if var.var_type == "number":
            return float(value) if any(c in value for c in ".eE") else int(value)
        if var.var_type.startswith(("array", "object")):
            return json.loads(value)
    except ValueError as exc:
        raise WorkflowError(f"loop variable {var.label}: {value!r} is not a valid {var.var_type}") from exc
    return value


class LoopNode(Node):
    type = "loop"
    data_model = LoopData
    data: LoopData
    body: Any = None

    def attach_body(self, body: Any) -> None:
        self.body = body

    def selectors(self) -> list[list[str]]:
        found = [c.variable_selector for c in self.data.break_conditions if c.variable_selector]
        found += [v.value for v in self.data.loop_variables
                  if v.value_type == "variable" and isinstance(v.value, list) and v.value]
        return found

    def _should_break(self, pool: VariablePool) -> bool:
        if not self.data.break_conditions:
            return False
        outcomes = []
        for cond in self.data.break_conditions:
            expected = pool.render(cond.value) if isinstance(cond.value, str) else cond.value
            outcomes.append(compare(cond.comparison_operator, pool.get(cond.variable_selector), expected))
        return all(outcomes) if self.data.logical_operator == "and" else any(outcomes)

    def run(self, ctx: NodeContext) -> NodeResult:
        assert ctx.body is not None
        variables = {v.label: ctx.pool.get(v.value) if v.value_type == "variable" else _constant(v)
                     for v in self.data.loop_variables}
        before = ctx.pool.node_values("conversation")
        conversation = dict(before)
        probe = ctx.pool.fork()
        for label, value in variables.items():
            probe.set(self.id, label, value)
        rounds, tokens = 0, 0
        broke = self._should_break(probe)
        while not broke and rounds < min(self.data.loop_count, ctx.body.max_loop_count):
            values = {(self.id, k): v for k, v in variables.items()}
            values.update({("conversation", k): v for k, v in conversation.items()})
            values[(self.id, "index")] = rounds
            result = ctx.body.run(self.body, values, {"loop_id": self.id, "loop_index": rounds})
            rounds += 1
            tokens += result.total_tokens
            if result.failed and self.data.error_handle_mode == "terminated":
                raise WorkflowError(f"loop {self.id} failed in round {rounds}: {result.error}")
            variables = {k: result.pool.get([self.id, k]) for k in variables}
            conversation = result.pool.node_values("conversation")
            broke = result.reached_loop_end or self._should_break(result.pool)
        return NodeResult(inputs={"loop_count": self.data.loop_count}, outputs={**variables, "loop_round": rounds},
                          process_data={"updated_variables": conversation_updates(before, conversation)},
                          total_tokens=tokens, metadata={"total_tokens": tokens, "loop_round": rounds})
