"""`if-else`: the first case whose conditions hold picks the edge handle (its case id); otherwise `false`.

Accepts the legacy shape (top-level `conditions` + `logical_operator`, one implicit case `true`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.engine.conditions import compare
from app.engine.nodes.base import Node, NodeContext, NodeData, NodeResult


class Condition(BaseModel):
    model_config = ConfigDict(extra="ignore")

    variable_selector: list[str] = Field(default_factory=list)
    comparison_operator: str
    value: Any = None


class Case(BaseModel):
    model_config = ConfigDict(extra="ignore")

    case_id: str
    logical_operator: Literal["and", "or"] = "and"
    conditions: list[Condition] = Field(default_factory=list)


class IfElseData(NodeData):
    cases: list[Case] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("cases") and data.get("conditions") is not None:
            data = dict(data)
            data["cases"] = [{"case_id": "true", "logical_operator": data.get("logical_operator") or "and",
                              "conditions": data["conditions"]}]
        return data


class IfElseNode(Node):
    type = "if-else"
    quick = True
    data_model = IfElseData
    data: IfElseData

    def selectors(self) -> list[list[str]]:
        return [c.variable_selector for case in self.data.cases for c in case.conditions if c.variable_selector]

    def source_handles(self) -> list[str] | None:
        return [case.case_id for case in self.data.cases] + ["false"]

    def run(self, ctx: NodeContext) -> NodeResult:
        results: list[dict[str, Any]] = []
        for case in self.data.cases:
            outcomes = []
            for cond in case.conditions:
                actual = ctx.pool.get(cond.variable_selector)
                expected = ctx.pool.render(cond.value) if isinstance(cond.value, str) else cond.value
                outcomes.append(compare(cond.comparison_operator, actual, expected))
                results.append({"actual_value": actual, "expected_value": expected,
                                "comparison_operator": cond.comparison_operator})
            passed = all(outcomes) if case.logical_operator == "and" else any(outcomes)
            if passed:
                return NodeResult(inputs={}, outputs={"result": True, "selected_case_id": case.case_id},
                                  process_data={"condition_results": results}, edge_handle=case.case_id)
        return NodeResult(inputs={}, outputs={"result": False, "selected_case_id": "false"},
                          process_data={"condition_results": results}, edge_handle="false")
