"""Build a runnable graph from a workflow spec and reject, at import, everything that would fail at run time:
dangling edges, bad edge handles, cycles and no reachable end. A node of an unknown type, or one whose variable
selectors name nodes that exist nowhere, is kept and reported in `Graph.warnings`: only a run that reaches it
fails.

Nodes inside an iteration or a loop are not part of the top-level graph: each container gets its own body
graph (started at its `iteration-start`/`loop-start` node), validated with the same rules except that a body
needs no end node. Loops are containers, so any cycle in the edges is an error.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from app.engine.dsl import EdgeSpec, NodeSpec, WorkflowSpec
from app.engine.nodes import IGNORED_TYPES, NODE_TYPES, Node
from app.engine.nodes.start import StartNode
from app.engine.nodes.unknown import UnknownNode
from app.errors import InvalidParam

# Selector roots that are not node ids.
SYSTEM_ROOTS = frozenset({"sys", "env", "conversation"})
TERMINAL_TYPES = {"workflow": ("end",), "advanced-chat": ("answer", "end"), "chat": ("answer",),
                  "agent-chat": ("answer",), "completion": ("answer",)}
CONTAINER_TYPES = {"iteration": "iteration-start", "loop": "loop-start"}
FAIL_BRANCH = "fail-branch"


@dataclass
class Graph:
    nodes: dict[str, Node]
    start_id: str
    out_edges: dict[str, list[EdgeSpec]] = field(default_factory=dict)
    in_edges: dict[str, list[EdgeSpec]] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    secret_names: frozenset[str] = frozenset()
    conversation: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def start(self) -> StartNode:
        node = self.nodes[self.start_id]
        assert isinstance(node, StartNode)
        return node


def _instantiate(spec: WorkflowSpec) -> tuple[dict[str, Node], dict[str, NodeSpec]]:
    nodes: dict[str, Node] = {}
    specs: dict[str, NodeSpec] = {}
    for node_spec in spec.graph.nodes:
        if node_spec.type in IGNORED_TYPES:
            continue
        if node_spec.id in nodes:
            raise InvalidParam(f"duplicate node id {node_spec.id}", params=node_spec.id)
        nodes[node_spec.id] = NODE_TYPES.get(node_spec.type, UnknownNode)(node_spec)
        specs[node_spec.id] = node_spec
    return nodes, specs


def unsupported(nodes: dict[str, Node]) -> list[str]:
    """Warnings for the nodes whose type Trellis does not run."""
    return [f"node {n.id} ({n.title}) has unsupported type {n.type!r}: a run that reaches it fails"
            for n in nodes.values() if isinstance(n, UnknownNode)]


def _scopes(nodes: dict[str, Node], specs: dict[str, NodeSpec]) -> dict[str | None, set[str]]:
    """Node ids per container id (None = top level). Raises for children of a node that is no container."""
    scopes: dict[str | None, set[str]] = defaultdict(set)
    for node_id, node_spec in specs.items():
        parent = node_spec.container_id
        if parent is not None and (parent not in nodes or nodes[parent].type not in CONTAINER_TYPES):
            raise InvalidParam(f"node {node_id} is inside {parent}, which is not an iteration or loop node",
                               params=node_id)
        scopes[parent].add(node_id)
    return scopes


def _allowed_handles(node: Node) -> list[str] | None:
    if getattr(node, "any_handle", False):
        return None
    handles = node.source_handles() or ["source"]
    if getattr(node.data, "error_strategy", None) == FAIL_BRANCH:
        return handles + [FAIL_BRANCH]
    return handles


def _edges(edges: list[EdgeSpec], nodes: dict[str, Node], scope_of: dict[str, str | None]
           ) -> dict[str | None, tuple[dict[str, list[EdgeSpec]], dict[str, list[EdgeSpec]]]]:
    """Edges grouped by the scope they live in; an edge across a container boundary is an error."""
    grouped: dict[str | None, tuple[dict[str, list[EdgeSpec]], dict[str, list[EdgeSpec]]]] = defaultdict(
        lambda: (defaultdict(list), defaultdict(list)))
    seen: set[tuple[str, str, str]] = set()
    for edge in edges:
        missing = [end for end in (edge.source, edge.target) if end not in nodes]
        if missing:
            raise InvalidParam(f"edge {edge.id or edge.source + '->' + edge.target} points to missing nodes: "
                               f"{', '.join(missing)}", params=missing)
        if scope_of[edge.source] != scope_of[edge.target]:
            raise InvalidParam(f"edge {edge.source}->{edge.target} crosses an iteration or loop boundary",
                               params=[edge.source, edge.target])
        handles = _allowed_handles(nodes[edge.source])
        if handles is not None and edge.source_handle not in handles:
            raise InvalidParam(f"edge from node {edge.source} uses unknown handle {edge.source_handle!r}",
                               params=edge.source)
        key = (edge.source, edge.target, edge.source_handle)
        if key in seen:  # some exports repeat an edge; running it twice would be wrong
            continue
        seen.add(key)
        out_edges, in_edges = grouped[scope_of[edge.source]]
        out_edges[edge.source].append(edge)
        in_edges[edge.target].append(edge)
    return grouped


def _check_acyclic(nodes: set[str], out_edges: dict[str, list[EdgeSpec]]) -> None:
    # Iterative depth-first search: a long chain of nodes must not reach Python's recursion limit (issue 14).
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    for root in sorted(nodes):
        if root in state:
            continue
        state[root] = 1
        path = [root]
        stack = [iter(out_edges.get(root, []))]
        while stack:
            edge = next(stack[-1], None)
            if edge is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            if state.get(edge.target) == 1:
                cycle = path[path.index(edge.target):] + [edge.target]
                raise InvalidParam(f"graph has a cycle (only loop nodes may repeat): {' -> '.join(cycle)}",
                                   params=cycle)
            if edge.target not in state:
                state[edge.target] = 1
                path.append(edge.target)
                stack.append(iter(out_edges.get(edge.target, [])))


def _reachable(start_id: str, out_edges: dict[str, list[EdgeSpec]]) -> set[str]:
    seen, stack = {start_id}, [start_id]
    while stack:
        for edge in out_edges.get(stack.pop(), []):
            if edge.target not in seen:
                seen.add(edge.target)
                stack.append(edge.target)
    return seen


def _body_start(container: Node, members: set[str], nodes: dict[str, Node]) -> str:
    declared = str(getattr(container.data, "start_node_id", "") or "")
    if declared in members:
        return declared
    marker = CONTAINER_TYPES[container.type]
    starts = sorted(n for n in members if nodes[n].type == marker)
    if len(starts) != 1:
        raise InvalidParam(f"{container.type} node {container.id} needs exactly one {marker} node inside",
                           params=container.id)
    return starts[0]


def _mark_dangling(nodes: dict[str, Node]) -> list[str]:
    """Mark nodes whose selectors name nodes that exist nowhere; returns one warning per such node.

    Selectors may point anywhere in the workflow: into a container (its output), at a container from inside
    (`[iteration_id, "item"]`, loop variables) or at a sibling. Real exports sometimes keep a selector to a node
    the author deleted; Dify imports them and fails only the run that reaches the node, and so does Trellis."""
    warnings = []
    for node in nodes.values():
        bad = sorted({".".join(sel) for sel in node.selectors()
                      if sel and sel[0] not in SYSTEM_ROOTS and sel[0] not in nodes})
        if bad:
            node.dangling = tuple(bad)
            warnings.append(f"node {node.id} ({node.title}) reads variables of missing nodes: {', '.join(bad)}; "
                            "a run that reaches it fails")
    return warnings


def build_graph(spec: WorkflowSpec, mode: str = "workflow") -> Graph:
    """Instantiate and validate. Raises InvalidParam (400) naming the offending node ids."""
    nodes, specs = _instantiate(spec)
    scopes = _scopes(nodes, specs)
    scope_of = {node_id: scope for scope, members in scopes.items() for node_id in members}
    grouped = _edges(spec.graph.edges, nodes, scope_of)
    top = scopes.get(None, set())
    starts = sorted(n for n in top if isinstance(nodes[n], StartNode))
    if len(starts) != 1:
        raise InvalidParam(f"a workflow needs exactly one start node, found {len(starts)}", params=starts)
    for scope, members in scopes.items():
        _check_acyclic(members, grouped[scope][0])
    out_edges, in_edges = grouped[None]
    terminals = TERMINAL_TYPES.get(mode, ("end",))
    if not any(nodes[n].type in terminals for n in _reachable(starts[0], out_edges)):
        raise InvalidParam(f"no {' or '.join(terminals)} node is reachable from the start node", params=starts)
    dangling = _mark_dangling(nodes)
    for scope, members in scopes.items():
        if scope is None:
            continue
        container = nodes[scope]
        body_out, body_in = grouped[scope]
        body = Graph(nodes={n: nodes[n] for n in members}, start_id=_body_start(container, members, nodes),
                     out_edges=dict(body_out), in_edges=dict(body_in))
        container.attach_body(body)  # type: ignore[attr-defined]
    missing_bodies = [n.id for n in nodes.values() if n.type in CONTAINER_TYPES and n.id not in scopes]
    if missing_bodies:
        raise InvalidParam(f"iteration or loop nodes without a body: {', '.join(missing_bodies)}",
                           params=missing_bodies)
    return Graph(nodes={n: nodes[n] for n in top}, start_id=starts[0], out_edges=dict(out_edges),
                 in_edges=dict(in_edges),
                 environment={v.name: v.value for v in spec.environment_variables},
                 secret_names=frozenset(v.name for v in spec.environment_variables if v.is_secret),
                 conversation={v.name: v.value for v in spec.conversation_variables},
                 warnings=(*unsupported(nodes), *dangling))
