"""`end`: collects the run's outputs from selectors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.engine.nodes.base import Node, NodeContext, NodeData, NodeResult


class OutputRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    variable: str
    value_selector: list[str] = Field(default_factory=list)


class EndData(NodeData):
    outputs: list[OutputRef] = Field(default_factory=list)


class EndNode(Node):
    type = "end"
    quick = True
    data_model = EndData
    data: EndData

    def selectors(self) -> list[list[str]]:
        return [o.value_selector for o in self.data.outputs if o.value_selector]

    def run(self, ctx: NodeContext) -> NodeResult:
        outputs = {o.variable: ctx.pool.get(o.value_selector) for o in self.data.outputs}
        return NodeResult(inputs=dict(outputs), outputs=outputs)
