"""`variable-aggregator` (also its old name `variable-assigner`): picks, per group, the first selector that
holds a value. Untaken branches never write their outputs, so the value comes from the branch that ran.

Without groups the output is `output`; with `advanced_settings.group_enabled` each group's value is at
`<group_name>.output`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.engine.nodes.base import Node, NodeContext, NodeData, NodeResult


class Group(BaseModel):
    model_config = ConfigDict(extra="ignore")

    group_name: str
    output_type: str = "any"
    variables: list[list[str]] = Field(default_factory=list)


class AdvancedSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    group_enabled: bool = False
    groups: list[Group] = Field(default_factory=list)


class AggregatorData(NodeData):
    output_type: str = "any"
    variables: list[list[str]] = Field(default_factory=list)
    advanced_settings: AdvancedSettings | None = None

    @property
    def grouped(self) -> bool:
        return bool(self.advanced_settings and self.advanced_settings.group_enabled)


def first_value(ctx: NodeContext, selectors: list[list[str]]) -> Any:
    for selector in selectors:
        value = ctx.pool.get(selector)
        if value is not None:
            return value
    return None


class VariableAggregatorNode(Node):
    type = "variable-aggregator"
    quick = True
    data_model = AggregatorData
    data: AggregatorData

    def selectors(self) -> list[list[str]]:
        found = [s for s in self.data.variables if s]
        if self.data.advanced_settings:
            found += [s for g in self.data.advanced_settings.groups for s in g.variables if s]
        return found

    def run(self, ctx: NodeContext) -> NodeResult:
        if self.data.grouped and self.data.advanced_settings:
            outputs: dict[str, Any] = {g.group_name: {"output": first_value(ctx, g.variables)}
                                       for g in self.data.advanced_settings.groups}
        else:
            outputs = {"output": first_value(ctx, self.data.variables)}
        return NodeResult(inputs={}, outputs=outputs)
