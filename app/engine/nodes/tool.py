"""`tool`: Dify's tool node. Calls one tool through the tool port (`ctx.services.tools`, the registry the worker
hands in) with the node's `tool_parameters` and `tool_configurations` as arguments.

A parameter is `{type: mixed | variable | constant, value}`: `mixed` is a `{{#node.var#}}` template rendered to
text, `variable` a selector whose value is passed as it is (files, lists, objects), `constant` a literal. Older
exports give configurations (and sometimes parameters) as bare values; those are constants. Outputs are Dify's:
`text` (the tool's text), `files` (a list of files), `json` (a list of objects), plus any variables the tool set.
A missing tool port, provider or tool fails the node with an error naming `provider/tool`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.engine.nodes.base import Node, NodeContext, NodeData, NodeResult
from app.engine.ports import ToolRef
from app.engine.variables import VariablePool, references
from app.errors import WorkflowError

INPUT_TYPES = ("mixed", "variable", "constant")


class ToolData(NodeData):
    provider_type: str = "builtin"
    provider_id: str = ""
    provider_name: str = ""
    tool_name: str = Field(default="", min_length=1)
    tool_parameters: dict[str, Any] = Field(default_factory=dict)
    tool_configurations: dict[str, Any] = Field(default_factory=dict)


def _is_input(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") in INPUT_TYPES and "value" in value


def _resolve(value: Any, pool: VariablePool) -> Any:
    if not _is_input(value):
        return value
    kind, raw = value["type"], value["value"]
    if kind == "variable":
        if isinstance(raw, list):
            return pool.get([str(part) for part in raw])
        return pool.render(raw) if isinstance(raw, str) else raw
    if kind == "mixed" and isinstance(raw, str):
        return pool.render(raw)
    return raw


def _selectors(value: Any) -> list[list[str]]:
    if not _is_input(value):
        return []
    raw = value["value"]
    if value["type"] == "variable" and isinstance(raw, list) and raw:
        return [[str(part) for part in raw]]
    return references(raw) if isinstance(raw, str) else []


class ToolNode(Node):
    type = "tool"
    data_model = ToolData
    data: ToolData

    @property
    def ref(self) -> ToolRef:
        d = self.data
        return ToolRef(d.provider_type or "builtin", d.provider_id or d.provider_name, d.tool_name, d.provider_name)

    def tool_refs(self) -> list[ToolRef]:
        return [self.ref]

    def selectors(self) -> list[list[str]]:
        values = [*self.data.tool_parameters.values(), *self.data.tool_configurations.values()]
        return [sel for value in values for sel in _selectors(value)]

    def arguments(self, pool: VariablePool) -> dict[str, Any]:
        """Configurations, then parameters (a name set in both takes the parameter's value)."""
        args = {name: _resolve(value, pool) for name, value in self.data.tool_configurations.items()}
        args.update({name: _resolve(value, pool) for name, value in self.data.tool_parameters.items()})
        return args

    def run(self, ctx: NodeContext) -> NodeResult:
        ref = self.ref
        if ctx.services.tools is None:
            raise WorkflowError(f"tool {ref.provider_id}/{ref.tool_name} cannot run: no tool runtime is configured")
        args = self.arguments(ctx.pool)
        result = ctx.services.tools.invoke(ctx.workspace_id, ref, args)
        outputs: dict[str, Any] = {"text": result.text, "files": list(result.files), "json": list(result.json)}
        outputs.update({k: v for k, v in result.variables.items() if k not in outputs})
        metered = {"total_tokens": result.total_tokens} if result.total_tokens else {}
        return NodeResult(inputs=args, outputs=outputs, total_tokens=result.total_tokens,
                          metadata={**metered, "tool_info": {"provider_type": ref.provider_type,
                                                  "provider_id": ref.provider_id, "tool_name": ref.tool_name}})
