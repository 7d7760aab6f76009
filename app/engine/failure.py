"""What a failed node yields under Dify's `error_strategy`, instead of failing the run.

`fail-branch`: the node ends with status `exception`, outputs `error_message`/`error_type`, and leaves by the
`fail-branch` handle. `default-value`: status `exception`, outputs the declared defaults (typed as declared)
plus the error fields, and leaves by the normal `source` handle. Pure functions; no I/O.
"""

from __future__ import annotations

import json
from typing import Any

from app.engine.nodes.base import DefaultOutput, NodeData, NodeResult

FAIL_BRANCH = "fail-branch"
DEFAULT_VALUE = "default-value"


def _typed(default: DefaultOutput) -> Any:
    """Defaults arrive as the editor typed them (often strings); coerce to the declared type when it's safe."""
    value = default.value
    kind = default.type
    if not isinstance(value, str):
        return value
    if kind == "number":
        try:
            return float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            return value
    if kind == "boolean":
        return value.strip().lower() in ("true", "1", "yes")
    if kind.startswith(("array", "object")):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def recover(data: NodeData, error: str, error_type: str) -> NodeResult | None:
    """The result that replaces a failure, or None when the node has no error strategy (the run then fails)."""
    error_outputs = {"error_message": error, "error_type": error_type}
    if data.error_strategy == FAIL_BRANCH:
        return NodeResult(outputs=error_outputs, edge_handle=FAIL_BRANCH)
    if data.error_strategy == DEFAULT_VALUE:
        outputs = {d.key: _typed(d) for d in data.default_value}
        return NodeResult(outputs={**outputs, **error_outputs})
    return None
