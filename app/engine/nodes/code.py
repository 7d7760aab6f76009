"""`code`: runs the user's `main(...)` in the sandbox port and checks what it returns against the declared outputs.

Output checks follow Dify's code node: declared types (`string`, `number`, `boolean`, `object`,
`array[string|number|boolean|object]`), every declared output present and nothing undeclared, strings at most
80,000 characters (NUL bytes stripped), numbers within int64 and 20 decimal places, objects at most 5 deep,
arrays at most 30 strings or objects or 1000 numbers. The node never runs code itself: it needs
`ctx.services.sandbox`. Must not import `app.providers`.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from app.engine.nodes.base import Node, NodeContext, NodeData, NodeResult
from app.errors import WorkflowError

MAX_STRING_LENGTH = 80_000
MAX_NUMBER = 9_223_372_036_854_775_807
MIN_NUMBER = -9_223_372_036_854_775_808
MAX_PRECISION = 20
MAX_DEPTH = 5
MAX_STRING_ARRAY_LENGTH = 30
MAX_OBJECT_ARRAY_LENGTH = 30
MAX_NUMBER_ARRAY_LENGTH = 1000


class CodeSandbox(Protocol):
    def run(self, language: str, code: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """Run `main(**inputs)` of `code` out of process; the dict it returned. Raises WorkflowError on failure,
        timeout or a limit."""
        ...


class OutputSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str = "string"
    children: dict[str, OutputSpec] | None = None


class VariableRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    variable: str
    value_selector: list[str] = Field(default_factory=list)


class CodeData(NodeData):
    code: str = ""
    code_language: str = "python3"
    variables: list[VariableRef] = Field(default_factory=list)
    outputs: dict[str, OutputSpec] | None = None


class CodeNode(Node):
    type = "code"
    data_model = CodeData
    data: CodeData

    def selectors(self) -> list[list[str]]:
        return [v.value_selector for v in self.data.variables if v.value_selector]

    def run(self, ctx: NodeContext) -> NodeResult:
        sandbox: CodeSandbox | None = ctx.services.sandbox
        if sandbox is None:
            raise WorkflowError("code execution is not configured on this server")
        inputs = {v.variable: ctx.pool.get(v.value_selector) for v in self.data.variables}
        result = sandbox.run(self.data.code_language, self.data.code, inputs)
        try:
            outputs = check_outputs(result, self.data.outputs)
        except ValueError as exc:
            raise WorkflowError(str(exc)) from exc
        return NodeResult(inputs=inputs, outputs=outputs)


def check_outputs(result: dict[str, Any], schema: dict[str, OutputSpec] | None, prefix: str = "",
                  depth: int = 1) -> dict[str, Any]:
    """Validate and normalise `result` against `schema` (None: only the generic limits). Raises ValueError."""
    if depth > MAX_DEPTH:
        raise ValueError("Depth limit reached, object too deep.")
    if schema is None:
        return {key: _check_any(value, _name(prefix, key), depth) for key, value in result.items()}
    checked: dict[str, Any] = {}
    for key, spec in schema.items():
        name = _name(prefix, key)
        if key not in result:
            raise ValueError(f"Output {name} is missing.")
        checked[key] = _check_declared(result[key], spec, name, depth)
    extra = sorted(set(result) - set(schema))
    if extra:
        raise ValueError(f"Output {_name(prefix, extra[0])} is not declared in the node's outputs.")
    return checked


def _check_declared(value: Any, spec: OutputSpec, name: str, depth: int) -> Any:
    kind = spec.type
    if value is None:
        return None  # Dify lets any declared output be null
    if kind == "string":
        return _check_string(value, name)
    if kind == "number":
        return _check_number(value, name)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"Output variable `{name}` must be a boolean")
        return value
    if kind == "object":
        if not isinstance(value, dict):
            raise ValueError(f"Output {name} is not an object, got {type(value).__name__} instead.")
        return check_outputs(value, spec.children, name, depth + 1)
    if kind.startswith("array["):
        return _check_array(value, kind[6:-1], spec, name, depth)
    raise ValueError(f"Output type {kind} is not supported.")


def _check_array(value: Any, item: str, spec: OutputSpec, name: str, depth: int) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"Output {name} is not an array, got {type(value).__name__} instead.")
    limit = {"number": MAX_NUMBER_ARRAY_LENGTH, "string": MAX_STRING_ARRAY_LENGTH,
             "object": MAX_OBJECT_ARRAY_LENGTH}.get(item, MAX_NUMBER_ARRAY_LENGTH)
    if len(value) > limit:
        raise ValueError(f"The length of output variable `{name}` must be less than {limit} elements.")
    if item == "object":
        out = []
        for i, element in enumerate(value):
            if not isinstance(element, dict):
                raise ValueError(f"Output {name}[{i}] is not an object, got {type(element).__name__} instead.")
            out.append(check_outputs(element, spec.children, f"{name}[{i}]", depth + 1))
        return out
    if item not in ("string", "number", "boolean"):
        raise ValueError(f"Output type array[{item}] is not supported.")
    return [_check_declared(v, OutputSpec(type=item), f"{name}[{i}]", depth) for i, v in enumerate(value)]


def _check_any(value: Any, name: str, depth: int) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _check_string(value, name)
    if isinstance(value, int | float):
        return _check_number(value, name)
    if isinstance(value, dict):
        return check_outputs(value, None, name, depth + 1)
    if isinstance(value, list):
        if depth > MAX_DEPTH:
            raise ValueError("Depth limit reached, object too deep.")
        kinds = {type(v) for v in value}
        if len(kinds) > 1 and not kinds <= {int, float}:
            raise ValueError(f"Output {name} is not a valid array. make sure all elements are of the same type.")
        # A list inside a list is a level too: counting it keeps the walk within MAX_DEPTH (issue 14: a
        # 3,000-deep list was a RecursionError).
        return [_check_any(v, f"{name}[{i}]", depth + 1 if isinstance(v, list) else depth)
                for i, v in enumerate(value)]
    raise ValueError(f"Output {name} is not a valid type.")


def _check_string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"Output variable `{name}` must be a string")
    if len(value) > MAX_STRING_LENGTH:
        raise ValueError(f"The length of output variable `{name}` must be less than {MAX_STRING_LENGTH} characters")
    return value.replace("\x00", "")


def _check_number(value: Any, name: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"Output variable `{name}` must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"Output variable `{name}` must be a finite number")
    if value > MAX_NUMBER or value < MIN_NUMBER:
        raise ValueError(f"Output variable `{name}` is out of range, it must be between {MIN_NUMBER} and "
                         f"{MAX_NUMBER}.")
    if isinstance(value, float) and "." in repr(value) and len(repr(value).split(".")[1]) > MAX_PRECISION:
        raise ValueError(f"Output variable `{name}` has too high precision, it must be less than {MAX_PRECISION} "
                         "digits.")
    return value


def _name(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key
