"""The variable pool of a run and Dify's `{{#node_id.var.path#}}` template references.

Values live under (node id, variable name); `sys`, `env` and `conversation` are node ids like any other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

# Node ids in exports are digits, `sys`, `env`, `conversation` or slug-like names; paths are identifiers.
REFERENCE = re.compile(r"\{\{#([a-zA-Z0-9_\-]{1,100}(?:\.[a-zA-Z_][a-zA-Z0-9_\-]{0,100}){1,10})#\}\}")

_MISSING = object()


class VariablePool:
    """Thread-safe for the runner's use: only the runner thread writes, nodes read keys already written."""

    def __init__(self) -> None:
        self._values: dict[str, dict[str, Any]] = {}

    def set_node_outputs(self, node_id: str, outputs: dict[str, Any]) -> None:
        self._values[node_id] = dict(outputs)

    def set(self, node_id: str, name: str, value: Any) -> None:
        self._values.setdefault(node_id, {})[name] = value

    def get(self, selector: Sequence[str], default: Any = None) -> Any:
        """Resolve `[node_id, var, key...]`; nested keys index into dicts (and lists by number)."""
        if len(selector) < 2:
            return default
        selector = self._system_alias(selector)
        value: Any = self._values.get(selector[0], {}).get(selector[1], _MISSING)
        for key in selector[2:]:
            if isinstance(value, dict):
                value = value.get(key, _MISSING)
            elif isinstance(value, list) and str(key).isdigit() and int(key) < len(value):
                value = value[int(key)]
            else:
                value = _MISSING
            if value is _MISSING:
                break
        return default if value is _MISSING else value

    def _system_alias(self, selector: Sequence[str]) -> Sequence[str]:
        """Older exports address system variables through the start node: `[start_id, "sys.query"]` (and in
        templates `{{#start_id.sys.query#}}`, split as `[start_id, "sys", "query"]`). Both mean `["sys", "query"]`
        unless the node really holds a variable of that name."""
        node_id, name = str(selector[0]), str(selector[1])
        if node_id == "sys":
            return selector
        held = self._values.get(node_id, {})
        if name.startswith("sys.") and name not in held:
            return ["sys", name[4:], *selector[2:]]
        if name == "sys" and len(selector) > 2 and "sys" not in held:
            return ["sys", *selector[2:]]
        return selector

    def has_node(self, node_id: str) -> bool:
        return node_id in self._values

    def node_values(self, node_id: str) -> dict[str, Any]:
        """A copy of every value stored under `node_id` (e.g. all `conversation` variables)."""
        return dict(self._values.get(node_id, {}))

    def fork(self) -> VariablePool:
        """A child pool for an iteration or loop body: reads what the parent holds now, writes only to itself."""
        child = VariablePool()
        # list() snapshots the items in one C call, so a branch thread writing meanwhile cannot break the copy.
        child._values = {node_id: dict(values) for node_id, values in list(self._values.items())}
        return child

    def render(self, template: str) -> str:
        """Replace every `{{#a.b#}}` with the referenced value as text (JSON for objects, empty if missing)."""
        return REFERENCE.sub(lambda m: to_text(self.get(m.group(1).split("."))), template)


def to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value) if isinstance(value, bool) else str(value)
    return json.dumps(value, ensure_ascii=False)


def references(template: str) -> list[list[str]]:
    """The selectors a template refers to, for import-time validation."""
    return [m.group(1).split(".") for m in REFERENCE.finditer(template or "")]
