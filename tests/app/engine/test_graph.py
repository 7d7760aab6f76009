"""Import-time validation of graphs, including container bodies, and tolerance for real exports."""

from __future__ import annotations

import pytest

from app.engine.dsl import parse_dsl
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
