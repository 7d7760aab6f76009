"""Build a runnable graph from a workflow spec and reject, at import, everything that would fail at run time:
unknown node types, dangling edges, bad edge handles, cycles, no reachable end and selectors to missing nodes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from app.engine.dsl import EdgeSpec, WorkflowSpec
from app.engine.nodes import IGNORED_TYPES, NODE_TYPES, Node
from app.engine.nodes.start import StartNode
from app.errors import InvalidParam

# Selector roots that are not node ids.
SYSTEM_ROOTS = frozenset({"sys", "env", "conversation"})
TERMINAL_TYPES = {"workflow": ("end",), "advanced-chat": ("answer", "end")}


@dataclass
class Graph:
    nodes: dict[str, Node]
    start_id: str
    out_edges: dict[str, list[EdgeSpec]] = field(default_factory=dict)
    in_edges: dict[str, list[EdgeSpec]] = field(default_factory=dict)

    @property
    def start(self) -> StartNode:
        node = self.nodes[self.start_id]
        assert isinstance(node, StartNode)
        return node


def _instantiate(spec: WorkflowSpec) -> dict[str, Node]:
    unknown = [f"{n.id} ({n.type})" for n in spec.graph.nodes
               if n.type not in NODE_TYPES and n.type not in IGNORED_TYPES]
    if unknown:
        raise InvalidParam(f"unsupported node types: {', '.join(unknown)}", params=[u.split(" ")[0] for u in unknown])
    nodes: dict[str, Node] = {}
    for node_spec in spec.graph.nodes:
        if node_spec.type in IGNORED_TYPES:
            continue
        if node_spec.id in nodes:
            raise InvalidParam(f"duplicate node id {node_spec.id}", params=node_spec.id)
        nodes[node_spec.id] = NODE_TYPES[node_spec.type](node_spec)
    return nodes


def _edges(spec: WorkflowSpec, nodes: dict[str, Node]) -> tuple[dict[str, list[EdgeSpec]], dict[str, list[EdgeSpec]]]:
    out_edges: dict[str, list[EdgeSpec]] = defaultdict(list)
    in_edges: dict[str, list[EdgeSpec]] = defaultdict(list)
    seen: set[tuple[str, str, str]] = set()
    for edge in spec.graph.edges:
        missing = [end for end in (edge.source, edge.target) if end not in nodes]
        if missing:
            raise InvalidParam(f"edge {edge.id or edge.source + '->' + edge.target} points to missing nodes: "
                               f"{', '.join(missing)}", params=missing)
        handles = nodes[edge.source].source_handles()
        if handles is not None and edge.source_handle not in handles:
            raise InvalidParam(f"edge from node {edge.source} uses unknown handle {edge.source_handle!r}",
                               params=edge.source)
        key = (edge.source, edge.target, edge.source_handle)
        if key in seen:  # some exports repeat an edge; running it twice would be wrong
            continue
        seen.add(key)
        out_edges[edge.source].append(edge)
        in_edges[edge.target].append(edge)
    return dict(out_edges), dict(in_edges)


def _check_acyclic(nodes: dict[str, Node], out_edges: dict[str, list[EdgeSpec]]) -> None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished

    def visit(node_id: str, path: list[str]) -> None:
        state[node_id] = 1
        for edge in out_edges.get(node_id, []):
            if state.get(edge.target) == 1:
                cycle = path[path.index(edge.target):] + [edge.target]
                raise InvalidParam(f"graph has a cycle: {' -> '.join(cycle)}", params=cycle)
            if edge.target not in state:
                visit(edge.target, path + [edge.target])
        state[node_id] = 2

    for node_id in nodes:
        if node_id not in state:
            visit(node_id, [node_id])


def _reachable(start_id: str, out_edges: dict[str, list[EdgeSpec]]) -> set[str]:
    seen, stack = {start_id}, [start_id]
    while stack:
        for edge in out_edges.get(stack.pop(), []):
            if edge.target not in seen:
                seen.add(edge.target)
                stack.append(edge.target)
    return seen


def build_graph(spec: WorkflowSpec, mode: str = "workflow") -> Graph:
    """Instantiate and validate. Raises InvalidParam (400) naming the offending node ids."""
    nodes = _instantiate(spec)
    starts = [n.id for n in nodes.values() if isinstance(n, StartNode)]
    if len(starts) != 1:
        raise InvalidParam(f"a workflow needs exactly one start node, found {len(starts)}", params=starts)
    out_edges, in_edges = _edges(spec, nodes)
    _check_acyclic(nodes, out_edges)
    reachable = _reachable(starts[0], out_edges)
    terminals = TERMINAL_TYPES.get(mode, ("end",))
    if not any(nodes[n].type in terminals for n in reachable):
        raise InvalidParam(f"no {' or '.join(terminals)} node is reachable from the start node", params=starts)
    bad = sorted({f"{node.id}->{'.'.join(sel)}" for node in nodes.values() for sel in node.selectors()
                  if sel and sel[0] not in SYSTEM_ROOTS and sel[0] not in nodes})
    if bad:
        raise InvalidParam(f"variable selectors refer to missing nodes: {', '.join(bad)}",
                           params=[b.split("->")[0] for b in bad])
    return Graph(nodes=nodes, start_id=starts[0], out_edges=out_edges, in_edges=in_edges)
