"""`list-operator`: filters, extracts one item from, sorts and truncates a list, in that order, and outputs
`result`, `first_record` and `last_record` (None for an empty result).

Conditions use the if-else operators. On lists of objects (files are objects) a condition's or the
ordering's `key` names the field compared; on lists of plain values the key is ignored.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.engine.conditions import compare
from app.engine.nodes.base import Node, NodeContext, NodeData, NodeResult
from app.errors import WorkflowError


class FilterCondition(BaseModel):
    model_config = ConfigDict(extra="ignore")

    key: str = ""
    comparison_operator: str = "contains"
    value: Any = None


class FilterBy(BaseModel):
    model_config = ConfigDict(extra="ignore")

    enabled: bool = False
    conditions: list[FilterCondition] = Field(default_factory=list)


class OrderBy(BaseModel):
    model_config = ConfigDict(extra="ignore")

    enabled: bool = False
    key: str = ""
    value: str = "asc"


class Limit(BaseModel):
    model_config = ConfigDict(extra="ignore")

    enabled: bool = False
    size: int = -1


class ExtractBy(BaseModel):
    model_config = ConfigDict(extra="ignore")

    enabled: bool = False
    serial: str = "1"


class ListOperatorData(NodeData):
    variable: list[str] = Field(default_factory=list)
    filter_by: FilterBy = Field(default_factory=FilterBy)
    order_by: OrderBy = Field(default_factory=OrderBy)
    limit: Limit = Field(default_factory=Limit)
    extract_by: ExtractBy = Field(default_factory=ExtractBy)


def _field(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) and key else item


def _sort_key(item: Any) -> tuple[int, Any]:
    # Nones last, numbers before text, so mixed lists still sort deterministically.
    if item is None:
        return (2, "")
    if isinstance(item, bool | int | float):
        return (0, float(item))
    return (1, str(item))


class ListOperatorNode(Node):
    type = "list-operator"
    quick = True
    data_model = ListOperatorData
    data: ListOperatorData

    def selectors(self) -> list[list[str]]:
        return [self.data.variable] if self.data.variable else []

    def _filter(self, ctx: NodeContext, items: list[Any]) -> list[Any]:
        for cond in self.data.filter_by.conditions:
            expected = ctx.pool.render(cond.value) if isinstance(cond.value, str) else cond.value
            items = [i for i in items if compare(cond.comparison_operator, _field(i, cond.key), expected)]
        return items

    def _extract(self, ctx: NodeContext, items: list[Any]) -> list[Any]:
        serial = ctx.pool.render(str(self.data.extract_by.serial)).strip()
        if not serial.isdigit() or int(serial) < 1:
            raise WorkflowError(f"extract serial must be a positive number, got {serial!r}")
        index = int(serial) - 1
        if index >= len(items):
            raise WorkflowError(f"extract serial {index + 1} is out of range for a list of {len(items)}")
        return [items[index]]

    def run(self, ctx: NodeContext) -> NodeResult:
        value = ctx.pool.get(self.data.variable)
        if value is None:
            raise WorkflowError(f"Variable {'.'.join(self.data.variable)} not found")
        if not isinstance(value, list):
            raise WorkflowError(f"Variable {'.'.join(self.data.variable)} is not an array")
        items = list(value)
        if self.data.filter_by.enabled:
            items = self._filter(ctx, items)
        if self.data.extract_by.enabled:
            items = self._extract(ctx, items)
        if self.data.order_by.enabled:
            key = self.data.order_by.key
            items.sort(key=lambda i: _sort_key(_field(i, key)), reverse=self.data.order_by.value == "desc")
        if self.data.limit.enabled and self.data.limit.size >= 0:
            items = items[: self.data.limit.size]
        return NodeResult(inputs={"variable": value},
                          outputs={"result": items, "first_record": items[0] if items else None,
                                   "last_record": items[-1] if items else None})
