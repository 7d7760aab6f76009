"""`start`: declares the run's inputs; validates them at request time and exposes them to the graph."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.engine.nodes.base import Node, NodeContext, NodeData, NodeResult
from app.engine.ports import FileStore
from app.errors import InvalidParam

TEXT_TYPES = ("text-input", "paragraph", "select")
FILE_TYPES = ("file", "file-list")


class StartVariable(BaseModel):
    model_config = ConfigDict(extra="ignore")

    variable: str
    label: str | dict[str, Any] | None = None
    type: str = "text-input"
    required: bool = False
    max_length: int | None = None
    options: list[str] = Field(default_factory=list)
    default: Any = None


class StartData(NodeData):
    variables: list[StartVariable] = Field(default_factory=list)


class StartNode(Node):
    type = "start"
    quick = True
    data_model = StartData
    data: StartData

    def validate_inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Check inputs against the declared variables (Dify's rules) and apply defaults.
        Raises InvalidParam naming the variable."""
        clean: dict[str, Any] = {}
        for var in self.data.variables:
            value = inputs.get(var.variable)
            if value is None or value == "":
                if var.required and var.default in (None, ""):
                    raise InvalidParam(f"{var.variable} is required in input form", params=var.variable)
                clean[var.variable] = var.default if var.default is not None else (None if value is None else value)
                continue
            clean[var.variable] = self._check(var, value)
        # Undeclared inputs are kept: Dify passes them through to `sys`-less references.
        for key, value in inputs.items():
            clean.setdefault(key, value)
        return clean

    @staticmethod
    def _check(var: StartVariable, value: Any) -> Any:
        if var.type in TEXT_TYPES:
            if not isinstance(value, str):
                raise InvalidParam(f"{var.variable} in input form must be a string", params=var.variable)
            if var.max_length and len(value) > var.max_length:
                raise InvalidParam(f"{var.variable} in input form must be less than {var.max_length} characters",
                                   params=var.variable)
            if var.type == "select" and var.options and value not in var.options:
                raise InvalidParam(f"{var.variable} in input form must be one of the following: {var.options}",
                                   params=var.variable)
        elif var.type == "number":
            if isinstance(value, bool):
                raise InvalidParam(f"{var.variable} in input form must be a valid number", params=var.variable)
            if isinstance(value, str):
                try:
                    value = float(value) if any(c in value for c in ".eE") else int(value)
                except ValueError as exc:
                    raise InvalidParam(f"{var.variable} in input form must be a valid number",
                                       params=var.variable) from exc
            elif not isinstance(value, int | float):
                raise InvalidParam(f"{var.variable} in input form must be a valid number", params=var.variable)
        return value

    def run(self, ctx: NodeContext) -> NodeResult:
        outputs = dict(ctx.run_inputs)
        store = ctx.services.files
        if store is not None:
            # File references from the request (an upload id, a URL) become Dify file objects, so nodes see
            # `filename`, `extension`, `mime_type`... as in Dify.
            for var in self.data.variables:
                if var.type in FILE_TYPES and outputs.get(var.variable):
                    outputs[var.variable] = describe_files(store, outputs[var.variable])
            if ctx.pool.get(["sys", "files"]):
                ctx.pool.set("sys", "files", describe_files(store, ctx.pool.get(["sys", "files"])))
        return NodeResult(inputs=dict(ctx.run_inputs), outputs=outputs)


def describe_files(store: FileStore, value: Any) -> Any:
    """One file reference or a list of them described by the store; anything else is left as it is."""
    if isinstance(value, list):
        return [store.describe(item) if isinstance(item, dict) else item for item in value]
    return store.describe(value) if isinstance(value, dict) else value
