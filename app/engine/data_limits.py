"""Bounds on untrusted nested data (request bodies, DSL files): nesting depth, expanded size and text a database
can store.

Two entry points: `check_tree` walks parsed JSON-like data without recursion and refuses depth past a limit, more
nodes than a limit, NUL characters and lone surrogates (Postgres refuses the first, UTF-8 the second) and NaN or
infinite numbers (which JSON does not have);
`load_yaml` parses YAML while counting what anchors and aliases expand to, so a few hundred bytes cannot become
gigabytes (the "billion laughs"), and refusing nesting too deep for the parser's recursion. Both raise
InvalidParam (400). Imports nothing from the services, api or providers layers.
"""

from __future__ import annotations

import math
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from app.errors import InvalidParam

MAX_DEPTH = 100
MAX_NODES = 1_000_000
MAX_YAML_DEPTH = 100
# Weight of a YAML document once aliases are expanded: one per node plus the characters of its scalars.
MAX_YAML_WEIGHT = 8_000_000


def bad_text(text: str) -> str | None:
    """Why `text` cannot be stored (a NUL character or a lone surrogate), or None when it can."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode)"
    return None


def check_tree(value: Any, what: str = "body", max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> None:
    """Refuse (InvalidParam naming the path) data nested deeper than `max_depth`, with more than `max_nodes`
    values, or holding a string or key that `bad_text` refuses. Iterative: no input can exhaust the stack."""
    stack: list[tuple[Any, int, str]] = [(value, 0, what)]
    seen = 0
    while stack:
        item, depth, path = stack.pop()
        seen += 1
        if seen > max_nodes:
            raise InvalidParam(f"{what} has more than {max_nodes} values", params=what)
        if isinstance(item, str):
            reason = bad_text(item)
            if reason:
                raise InvalidParam(f"{path} {reason}", params=path)
            continue
        if isinstance(item, float) and not math.isfinite(item):
            # Python's JSON parser takes NaN and Infinity; JSON has neither, and Postgres refuses them.
            raise InvalidParam(f"{path} is not a finite number", params=path)
        if not isinstance(item, dict | list | tuple):
            continue
        if depth >= max_depth:
            raise InvalidParam(f"{what} is nested deeper than {max_depth} levels", params=what)
        if isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{path}.{key}" if isinstance(key, str) and len(path) < 200 else path
                if isinstance(key, str) and (reason := bad_text(key)):
                    raise InvalidParam(f"a key in {path} {reason}", params=path)
                stack.append((child, depth + 1, child_path))
        else:
            stack.extend((child, depth + 1, path) for child in item)


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that tracks nesting depth while composing and the expanded weight of every node: an alias
    counts as much as what it points to, so the total is the size of the data the document stands for."""

    def __init__(self, stream: str, max_depth: int, max_weight: int) -> None:
        super().__init__(stream)
        self._depth = 0
        self._max_depth = max_depth
        self._max_weight = max_weight
        self._weights: dict[int, int] = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self._depth += 1
        if self._depth > self._max_depth:
            raise InvalidParam(f"DSL is nested deeper than {self._max_depth} levels")
        if self.check_event(yaml.AliasEvent):  # type: ignore[no-untyped-call]
            target = self.anchors.get(self.peek_event().anchor)  # type: ignore[no-untyped-call]
            if target is not None and id(target) not in self._weights:
                self._depth -= 1
                raise InvalidParam("DSL has an alias to a node that contains it (a recursive structure)")
        try:
            node: Node = super().compose_node(parent, index)  # type: ignore[no-untyped-call]
        finally:
            self._depth -= 1
        weight = self._weights.get(id(node))
        if weight is None:  # an alias returns the anchored node, whose weight is already known
            weight = self._weigh(node)
            self._weights[id(node)] = weight
        if weight > self._max_weight:
            raise InvalidParam(f"DSL expands to more than {self._max_weight} units (anchors and aliases count "
                               "once per use)")
        return node

    def _weigh(self, node: Node) -> int:
        if isinstance(node, ScalarNode):
            return 1 + len(str(node.value))
        if isinstance(node, SequenceNode):
            return 1 + sum(self._weights.get(id(child), 1) for child in node.value)
        if isinstance(node, MappingNode):
            return 1 + sum(self._weights.get(id(k), 1) + self._weights.get(id(v), 1) for k, v in node.value)
        return 1


def load_yaml(text: str, max_depth: int = MAX_YAML_DEPTH, max_weight: int = MAX_YAML_WEIGHT) -> Any:
    """Parse one YAML document within the limits, then `check_tree` it. Raises InvalidParam for a document
    too deep, too large once expanded, or holding unstorable text; yaml.YAMLError for invalid YAML."""
    loader = _BoundedLoader(text, max_depth, max_weight)
    try:
        data = loader.get_single_data()
    except RecursionError as exc:  # a construct the depth count does not see (a long chain of merge keys)
        raise InvalidParam("DSL is nested too deeply") from exc
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]
    check_tree(data, "DSL", max_depth=max_depth + 1)
    return data
