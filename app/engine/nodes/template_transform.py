"""`template-transform`: renders a Jinja2 template in a sandbox over named variables."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.engine.nodes.base import Node, NodeContext, NodeData, NodeResult
from app.engine.templating import render_jinja


class VariableRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    variable: str
    value_selector: list[str] = Field(default_factory=list)


class TemplateData(NodeData):
    template: str = ""
    variables: list[VariableRef] = Field(default_factory=list)


class TemplateTransformNode(Node):
    type = "template-transform"
    quick = True
    data_model = TemplateData
    data: TemplateData

    def selectors(self) -> list[list[str]]:
        return [v.value_selector for v in self.data.variables if v.value_selector]

    def run(self, ctx: NodeContext) -> NodeResult:
        values = {v.variable: ctx.pool.get(v.value_selector) for v in self.data.variables}
        output = render_jinja(self.data.template, values)
        return NodeResult(inputs=values, outputs={"output": output})
