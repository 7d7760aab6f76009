"""Import-time validation of graphs, including container bodies, and tolerance for real exports."""

from __future__ import annotations

import pytest

from app.engine.dsl import WorkflowSpec, parse_dsl
from app.engine.graph import build_graph
from app.engine.state import RunStatus
from app.errors import InvalidParam
from tests.app.engine.harness import edge, end, graph, node, run, start


def test_cycle_outside_a_loop_is_rejected_naming_nodes():
    nodes = [start(), node("a", "template-transform", template=""), node("b", "template-transform", template=""),
             end()]
    with pytest.raises(InvalidParam) as info:
        graph(nodes, [edge("start", "a"), edge("a", "b"), edge("b", "a"), edge("b", "end")])
    assert "cycle" in info.value.message and set(info.value.extra["params"]) >= {"a", "b"}


def test_selectors_to_missing_nodes_are_warnings_and_fail_only_the_run_that_reaches_them():
    g = graph([start(), end(x=["ghost", "output"])], [edge("start", "end")])
    assert g.nodes["end"].dangling == ("ghost.output",)
    assert any("missing nodes: ghost.output" in w for w in g.warnings)
    result = run(g)
    assert result.outcome.status == RunStatus.failed
    assert "not in this workflow: ghost.output" in result.outcome.error
    # A branch the run does not take may keep its dangling selector: that run succeeds.
    cond = node("if", "if-else", cases=[{"case_id": "true", "logical_operator": "and", "conditions": [
        {"variable_selector": ["start", "x"], "comparison_operator": "is", "value": "broken"}]}])
    broken = node("broken", "template-transform", template="{{ v }}",
                  variables=[{"variable": "v", "value_selector": ["deleted", "text"]}])
    ok = node("ok", "template-transform", template="fine", variables=[])
    agg = node("agg", "variable-aggregator", output_type="string", variables=[["broken", "output"], ["ok", "output"]])
    g = graph([start("x"), cond, broken, ok, agg, end(out=["agg", "output"])],
              [edge("start", "if"), edge("if", "broken", "true"), edge("if", "ok", "false"), edge("broken", "agg"),
               edge("ok", "agg"), edge("agg", "end")])
    assert run(g, {"x": "fine"}).outcome.outputs == {"out": "fine"}
    assert run(g, {"x": "broken"}).outcome.status == RunStatus.failed


def test_container_selectors_pass():
    it = node("it", "iteration", iterator_selector=["start", "items"], output_selector=["tt", "output"])
    tt = node("tt", "template-transform", parent="it", template="{{ a }}{{ b }}",
              variables=[{"variable": "a", "value_selector": ["it", "item"]},
                         {"variable": "b", "value_selector": ["it", "index"]}])
    g = graph([start(), it, node("its", "iteration-start", parent="it"), tt, end(out=["it", "output"])],
              [edge("start", "it"), edge("it", "end"), edge("its", "tt")])
    assert set(g.nodes) == {"start", "it", "end"}
    assert set(g.nodes["it"].body.nodes) == {"its", "tt"} and g.nodes["it"].body.start_id == "its"


def test_children_of_a_non_container_are_rejected_and_unknown_types_kept_with_a_warning():
    with pytest.raises(InvalidParam, match="not an iteration or loop"):
        graph([start(), node("x", "template-transform", parent="start", template=""), end()], [edge("start", "end")])
    g = graph([start(), node("w", "warp-drive"), end()],
              [edge("start", "w"), edge("w", "end", handle="engage")])
    assert g.nodes["w"].type == "warp-drive"
    assert len(g.warnings) == 1 and "'warp-drive'" in g.warnings[0] and "node w" in g.warnings[0]


def test_real_export_quirks_are_tolerated():
    text = """
app: {name: quirks, mode: workflow, use_icon_as_answer_icon: false, some_new_key: 1}
kind: app
version: 0.1.0
unknown_top_level: true
workflow:
  environment_variables: [{name: K, value: v, value_type: string, id: x, description: ''}]
  conversation_variables: []
  graph:
    viewport: {x: 0, y: 0, zoom: 1}
    edges:
    - {source: s, target: agg, sourceHandle: null, data: {isInIteration: false}, zIndex: 0}
    - {source: agg, target: e}
    nodes:
    - {id: s, type: custom, position: {x: 0, y: 0}, data: {type: start, title: S, variables: [], selected: true}}
    - {id: agg, data: {type: variable-assigner, output_type: string, variables: [[s, q]], desc: ''}}
    - {id: e, data: {type: end, outputs: [{variable: o, value_selector: [agg, output]}]}}
    - {id: note, type: custom-note, data: {type: '', text: hi}}
"""
    doc = parse_dsl(text)
    g = build_graph(doc.workflow)
    assert set(g.nodes) == {"s", "agg", "e"} and g.environment == {"K": "v"}


def tt(node_id: str, parent: str | None = None) -> dict:
    return node(node_id, "template-transform", parent=parent, template="x")


def test_an_end_node_that_no_path_reaches_is_rejected():
    # The end node exists and has an edge, but from a node the start never reaches.
    with pytest.raises(InvalidParam, match="no end node is reachable"):
        graph([start(), tt("a"), tt("island"), end()], [edge("start", "a"), edge("island", "end")])
    with pytest.raises(InvalidParam, match="no end node is reachable"):
        graph([start(), end()], [])


def test_an_end_reached_only_through_one_branch_is_accepted():
    cond = node("if", "if-else", cases=[{"case_id": "true", "logical_operator": "and", "conditions": []}])
    g = graph([start(), cond, tt("dead"), end()], [edge("start", "if"), edge("if", "end", "true"),
                                                   edge("if", "dead", "false")])
    assert set(g.nodes) == {"start", "if", "dead", "end"}


def test_chatflows_end_in_an_answer_and_workflows_do_not():
    text = """
app: {name: t, mode: advanced-chat}
workflow:
  graph:
    edges: [{source: s, target: a}]
    nodes:
    - {id: s, data: {type: start, variables: []}}
    - {id: a, data: {type: answer, answer: hi}}
"""
    spec = parse_dsl(text).workflow
    assert set(build_graph(spec, mode="advanced-chat").nodes) == {"s", "a"}
    with pytest.raises(InvalidParam, match="no end node is reachable"):
        build_graph(spec, mode="workflow")


@pytest.mark.parametrize(("nodes", "edges", "message"), [
    ([tt("a"), end()], [edge("a", "end")], "exactly one start node, found 0"),
    ([start(), node("start2", "start"), end()], [edge("start", "end")], "exactly one start node, found 2"),
    ([start(), tt("a"), tt("a"), end()], [edge("start", "end")], "duplicate node id a"),
    ([start(), end()], [edge("start", "ghost")], "missing nodes: ghost"),
    ([start(), end()], [edge("start", "end", "true")], "unknown handle 'true'"),
    ([start(), node("it", "iteration", iterator_selector=["start", "x"], output_selector=["in", "output"]),
      node("its", "iteration-start", parent="it"), tt("in", parent="it"), end()],
     [edge("start", "it"), edge("it", "end"), edge("its", "in"), edge("in", "end")], "crosses an iteration"),
    ([start(), node("it", "iteration", iterator_selector=["start", "x"], output_selector=["start", "x"]), end()],
     [edge("start", "it"), edge("it", "end")], "without a body"),
    ([start(), node("it", "iteration", iterator_selector=["start", "x"], output_selector=["in", "output"]),
      tt("in", parent="it"), end()],
     [edge("start", "it"), edge("it", "end")], "exactly one iteration-start"),
])
def test_each_structural_error_is_refused_with_its_reason(nodes, edges, message):
    with pytest.raises(InvalidParam, match=message):
        graph(nodes, edges)


def test_a_body_may_start_where_its_container_says():
    it = node("it", "iteration", iterator_selector=["start", "items"], output_selector=["b", "output"],
              start_node_id="a")
    g = graph([start("items"), it, tt("a", parent="it"), tt("b", parent="it"), end(out=["it", "output"])],
              [edge("start", "it"), edge("it", "end"), edge("a", "b")])
    assert g.nodes["it"].body.start_id == "a"


def test_a_body_without_a_start_names_its_container():
    it = node("it", "iteration", iterator_selector=["start", "items"], output_selector=["b", "output"])
    with pytest.raises(InvalidParam) as info:
        graph([start("items"), it, tt("a", parent="it"), end(out=["it", "output"])],
              [edge("start", "it"), edge("it", "end")])
    assert info.value.extra["params"] == "it"


def refused(nodes: list[dict], edges: list[dict], **workflow) -> InvalidParam:
    with pytest.raises(InvalidParam) as info:
        graph(nodes, edges, **workflow)
    assert info.value.code == "invalid_param" and info.value.status == 400
    return info.value


def test_an_empty_graph_has_no_start():
    error = refused([node("n", "custom-note")], [])
    assert (error.message, error.extra["params"]) == ("a workflow needs exactly one start node, found 0", [])


def test_structural_errors_name_the_offending_nodes_exactly():
    error = refused([start(), tt("a"), tt("a"), end()], [edge("start", "end")])
    assert (error.message, error.extra["params"]) == ("duplicate node id a", "a")
    error = refused([tt("a"), end()], [edge("a", "end")])
    assert (error.message, error.extra["params"]) == ("a workflow needs exactly one start node, found 0", [])
    error = refused([start(), node("b", "start"), end()], [edge("start", "end")])
    assert (error.message, error.extra["params"]) == ("a workflow needs exactly one start node, found 2",
                                                      ["b", "start"])
    error = refused([start(), node("x", "template-transform", parent="ghost", template=""), end()],
                    [edge("start", "end")])
    assert error.message == "node x is inside ghost, which is not an iteration or loop node"
    assert error.extra["params"] == "x"
    error = refused([start(), tt("a"), end()], [edge("start", "a"), edge("a", "end"), edge("a", "ghost", "x")])
    assert (error.message, error.extra["params"]) == ("edge a-x-ghost points to missing nodes: ghost", ["ghost"])
    error = refused([start(), end()], [{"source": "s0", "target": "e0"}])
    assert (error.message, error.extra["params"]) == ("edge s0->e0 points to missing nodes: s0, e0", ["s0", "e0"])
    error = refused([start(), end()], [edge("start", "end", "true")])
    assert (error.message, error.extra["params"]) == ("edge from node start uses unknown handle 'true'", "start")


def test_the_reachability_error_names_the_terminals_of_the_mode_and_the_start():
    error = refused([start(), tt("a"), end()], [edge("start", "a")])
    assert (error.message, error.extra["params"]) == ("no end node is reachable from the start node", ["start"])
    spec = WorkflowSpec.model_validate({"graph": {"nodes": [start(), tt("a")], "edges": [edge("start", "a")]}})
    with pytest.raises(InvalidParam, match="^no answer or end node is reachable from the start node$"):
        build_graph(spec, mode="advanced-chat")
    with pytest.raises(InvalidParam, match="^no answer node is reachable"):
        build_graph(spec, mode="chat")
    with pytest.raises(InvalidParam, match="^no end node is reachable"):
        build_graph(spec, mode="some-future-mode")  # an unknown mode needs an end, like a workflow


def test_an_edge_across_a_container_boundary_names_both_ends():
    it = node("it", "iteration", iterator_selector=["start", "x"], output_selector=["in", "output"])
    error = refused([start(), it, node("its", "iteration-start", parent="it"), tt("in", parent="it"), end()],
                    [edge("start", "it"), edge("it", "end"), edge("its", "in"), edge("start", "in")])
    assert error.message == "edge start->in crosses an iteration or loop boundary"
    assert error.extra["params"] == ["start", "in"]


def test_a_cycle_is_reported_from_where_it_closes_even_off_the_start_path():
    # Roots are searched in sorted order; `a` is finished before `b` is met as a root, and the cycle
    # (c <-> d) is reachable from no earlier root, so the search must go on past finished roots.
    error = refused([start(), tt("a"), tt("b"), tt("c"), tt("d"), end()],
                    [edge("start", "end"), edge("a", "b"), edge("c", "d"), edge("d", "c")])
    assert error.message == "graph has a cycle (only loop nodes may repeat): c -> d -> c"
    assert error.extra["params"] == ["c", "d", "c"]
    # A cycle entered part-way down a path names only the nodes that repeat.
    error = refused([start(), tt("a"), tt("b"), tt("c"), end()],
                    [edge("start", "a"), edge("a", "b"), edge("b", "c"), edge("c", "b"), edge("c", "end")])
    assert error.extra["params"] == ["b", "c", "b"]
    error = refused([start(), tt("a"), end()], [edge("start", "a"), edge("a", "a"), edge("a", "end")])
    assert error.extra["params"] == ["a", "a"]


def test_diamonds_and_shared_targets_are_not_cycles():
    cond = node("if", "if-else", cases=[{"case_id": "true", "logical_operator": "and", "conditions": []}])
    g = graph([start(), cond, tt("a"), tt("b"), tt("join"), end()],
              [edge("start", "if"), edge("if", "a", "true"), edge("if", "b", "false"), edge("a", "join"),
               edge("b", "join"), edge("join", "end"), edge("start", "join")])
    assert sorted(e.source for e in g.in_edges["join"]) == ["a", "b", "start"]


def test_a_cycle_inside_a_body_is_refused():
    it = node("it", "iteration", iterator_selector=["start", "x"], output_selector=["a", "output"])
    error = refused([start(), it, node("its", "iteration-start", parent="it"), tt("a", parent="it"),
                     tt("b", parent="it"), end()],
                    [edge("start", "it"), edge("it", "end"), edge("its", "a"), edge("a", "b"), edge("b", "a")])
    assert error.extra["params"] == ["a", "b", "a"]


def test_edges_are_indexed_both_ways_and_repeated_edges_kept_once():
    cond = node("if", "if-else", cases=[{"case_id": "true", "logical_operator": "and", "conditions": []}])
    g = graph([start(), cond, tt("a"), end()],
              [edge("start", "if"), edge("start", "if"), edge("if", "a", "true"), edge("if", "a", "false"),
               edge("a", "end")])
    assert [(e.source, e.target) for e in g.out_edges["start"]] == [("start", "if")]
    assert [e.source_handle for e in g.out_edges["if"]] == ["true", "false"]  # same ends, other handle: kept
    assert [e.source_handle for e in g.in_edges["a"]] == ["true", "false"]
    assert [e.source for e in g.in_edges["end"]] == ["a"]
    assert "end" not in g.out_edges and "start" not in g.in_edges


def test_a_fail_branch_handle_needs_the_fail_branch_strategy():
    fallible = node("a", "template-transform", template="x", error_strategy="fail-branch")
    g = graph([start(), fallible, tt("b"), end()],
              [edge("start", "a"), edge("a", "end"), edge("a", "b", "fail-branch"), edge("b", "end")])
    assert [e.source_handle for e in g.out_edges["a"]] == ["source", "fail-branch"]
    error = refused([start(), tt("a"), tt("b"), end()],
                    [edge("start", "a"), edge("a", "end"), edge("a", "b", "fail-branch"), edge("b", "end")])
    assert error.message == "edge from node a uses unknown handle 'fail-branch'"
    # A node with handles of its own keeps them next to the fail branch.
    cond = node("if", "if-else", error_strategy="fail-branch",
                cases=[{"case_id": "yes", "logical_operator": "and", "conditions": []}])
    g = graph([start(), cond, end()], [edge("start", "if"), edge("if", "end", "yes"), edge("if", "end", "false"),
                                       edge("if", "end", "fail-branch")])
    assert len(g.in_edges["end"]) == 3
    assert "'source'" in refused([start(), cond, end()], [edge("start", "if"), edge("if", "end")]).message


def test_notes_are_dropped_wherever_they_appear():
    g = graph([node("n1", "custom-note"), start(), node("n2", ""), tt("a"), end()],
              [edge("start", "a"), edge("a", "end")])
    assert set(g.nodes) == {"start", "a", "end"}


def test_the_graph_carries_the_workflow_variables_and_its_start():
    g = graph([start("q"), end()], [edge("start", "end")],
              environment_variables=[{"name": "K", "value": "v", "value_type": "string"},
                                     {"name": "S", "value": "s3cr3t", "value_type": "secret"}],
              conversation_variables=[{"name": "memo", "value": "m", "value_type": "string"}])
    assert g.start is g.nodes["start"] and g.start_id == "start"
    assert g.environment == {"K": "v", "S": "s3cr3t"}
    assert g.secret_names == frozenset({"S"})
    assert g.conversation == {"memo": "m"}
    assert g.warnings == ()


def test_warnings_list_unknown_types_then_dangling_selectors_with_their_reason():
    g = graph([start("q"), node("w", "warp-drive", title="Warp"), end(a=["ghost", "x"], b=["sys", "query"],
                                                                   c=["env", "K"], d=["conversation", "m"],
                                                                   e=["ghost", "x"], f=["apparition", "y"],
                                                                   g=[], h=["start", "q"], i=["w", "out"])],
              [edge("start", "w"), edge("w", "end")])
    assert g.warnings == (
        "node w (Warp) has unsupported type 'warp-drive': a run that reaches it fails",
        "node end (end) reads variables of missing nodes: apparition.y, ghost.x; a run that reaches it fails")
    assert g.nodes["end"].dangling == ("apparition.y", "ghost.x")
    assert g.nodes["w"].dangling == ()


def test_a_loop_body_starts_at_its_loop_start_and_keeps_its_own_edges():
    loop = node("lp", "loop", loop_count=1)
    g = graph([start(), loop, node("ls", "loop-start", parent="lp"), tt("a", parent="lp"), tt("b", parent="lp"),
               end()],
              [edge("start", "lp"), edge("lp", "end"), edge("ls", "a"), edge("a", "b")])
    body = g.nodes["lp"].body
    assert body.start_id == "ls" and set(body.nodes) == {"ls", "a", "b"}
    assert [e.target for e in body.out_edges["a"]] == ["b"] and [e.source for e in body.in_edges["b"]] == ["a"]
    assert "a" not in g.out_edges and set(g.nodes) == {"start", "lp", "end"}


def test_a_body_start_declared_outside_the_body_falls_back_to_its_marker():
    it = node("it", "iteration", iterator_selector=["start", "x"], output_selector=["a", "output"],
              start_node_id="end")
    g = graph([start(), it, node("its", "iteration-start", parent="it"), tt("a", parent="it"), end()],
              [edge("start", "it"), edge("it", "end"), edge("its", "a")])
    assert g.nodes["it"].body.start_id == "its"


def test_a_body_with_two_start_markers_is_refused():
    loop = node("lp", "loop", loop_count=1)
    error = refused([start(), loop, node("s1", "loop-start", parent="lp"), node("s2", "loop-start", parent="lp"),
                     end()], [edge("start", "lp"), edge("lp", "end")])
    assert (error.message, error.extra["params"]) == ("loop node lp needs exactly one loop-start node inside", "lp")
    it = node("it", "iteration", iterator_selector=["start", "x"], output_selector=["a", "output"])
    error = refused([start(), it, node("its", "loop-start", parent="it"), end()],
                    [edge("start", "it"), edge("it", "end")])
    assert error.message == "iteration node it needs exactly one iteration-start node inside"


def test_containers_without_a_body_are_named():
    it = node("it", "iteration", iterator_selector=["start", "x"], output_selector=["start", "x"])
    error = refused([start(), it, node("lp", "loop"), end()],
                    [edge("start", "it"), edge("it", "lp"), edge("lp", "end")])
    assert (error.message, error.extra["params"]) == ("iteration or loop nodes without a body: it, lp", ["it", "lp"])
