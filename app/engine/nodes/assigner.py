"""`assigner`: writes conversation variables (and, inside a loop, loop variables).

Version 1 (`assigned_variable_selector`, `input_variable_selector`, `write_mode`: over-write/append/clear) and
version 2 (`items[]` of `variable_selector`, `input_type` variable/constant, `operation`: over-write, clear,
set, append, extend, remove-first, remove-last, +=, -=, *=, /=). The node does not touch the pool itself: it
reports each write as `process_data.updated_variables[] {name, selector, new_value}`, which the runner applies
when the node finishes (and re-applies from a restored checkpoint). Persisting conversation variables between
turns belongs to the chatflow service, which reads them back from the pool under `conversation`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.engine.nodes.base import Node, NodeContext, NodeData, NodeResult
from app.errors import WorkflowError

NO_INPUT = ("clear", "remove-first", "remove-last")


class Item(BaseModel):
    model_config = ConfigDict(extra="ignore")

    variable_selector: list[str]
    input_type: str = "variable"  # variable | constant
    operation: str = "over-write"
    value: Any = None


class AssignerData(NodeData):
    version: str = "2"
    items: list[Item] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _v1(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("items") and data.get("assigned_variable_selector"):
            data = dict(data)
            data["version"] = "1"
            data["items"] = [{"variable_selector": data["assigned_variable_selector"], "input_type": "variable",
                              "operation": data.get("write_mode") or "over-write",
                              "value": data.get("input_variable_selector") or []}]
        return data


def _empty_like(current: Any) -> Any:
    if isinstance(current, list):
        return []
    if isinstance(current, dict):
        return {}
    if isinstance(current, bool):
        return False
    if isinstance(current, int | float):
        return 0
    return ""


def _number(value: Any, what: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WorkflowError(f"{what} must be a number, got {type(value).__name__}")
    return value


def apply(operation: str, current: Any, value: Any) -> Any:
    """The new value of a variable after `operation`. Raises WorkflowError for a type mismatch."""
    if operation in ("over-write", "set"):
        return value
    if operation == "clear":
        return _empty_like(current)
    if operation in ("append", "extend", "remove-first", "remove-last"):
        items = list(current or [])
        if not isinstance(current, list | type(None)):
            raise WorkflowError(f"{operation} needs an array variable")
        if operation == "append":
            return items + [value]
        if operation == "extend":
            if not isinstance(value, list):
                raise WorkflowError("extend needs an array value")
            return items + value
        return items[1:] if operation == "remove-first" else items[:-1]
    if operation in ("+=", "-=", "*=", "/="):
        left, right = _number(current, "the variable"), _number(value, "the value")
        if operation == "/=" and right == 0:
            raise WorkflowError("division by zero")
        return {"+=": left + right, "-=": left - right, "*=": left * right, "/=": left / right}[operation]
    raise WorkflowError(f"unknown assigner operation {operation!r}")


class AssignerNode(Node):
    type = "assigner"
    data_model = AssignerData
    data: AssignerData

    def selectors(self) -> list[list[str]]:
        found = [i.variable_selector for i in self.data.items if i.variable_selector]
        found += [i.value for i in self.data.items
                  if i.input_type == "variable" and i.operation not in NO_INPUT and isinstance(i.value, list)
                  and i.value]
        return found

    def run(self, ctx: NodeContext) -> NodeResult:
        written: dict[tuple[str, str], Any] = {}
        for item in self.data.items:
            if len(item.variable_selector) < 2:
                raise WorkflowError("assigner item has no target variable")
            target = (item.variable_selector[0], item.variable_selector[1])
            current = written[target] if target in written else ctx.pool.get(list(target))
            if item.operation in NO_INPUT:
                value = None
            elif item.input_type == "variable":
                value = ctx.pool.get(item.value) if isinstance(item.value, list) else None
            else:
                value = item.value
            written[target] = apply(item.operation, current, value)
        updates = [{"name": name, "selector": [node_id, name], "new_value": value}
                   for (node_id, name), value in written.items()]
        return NodeResult(inputs={}, outputs={}, process_data={"updated_variables": updates})
