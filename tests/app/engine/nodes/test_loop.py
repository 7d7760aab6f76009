"""`loop`: loop variables carried between rounds, break conditions, `loop-end`, the loop limit."""

from __future__ import annotations

from app.engine.runner import Limits
from tests.app.engine.harness import edge, end, graph, node, run, start

INCREMENT = {"variable_selector": ["lp", "counter"], "input_type": "constant", "operation": "+=", "value": 1}


def loop_graph(body: list[dict], body_edges: list[dict], **data):
    lp = node("lp", "loop", start_node_id="lp-start",
              loop_variables=[{"label": "counter", "var_type": "number", "value_type": "constant", "value": "0"},
                              {"label": "seed", "var_type": "string", "value_type": "variable",
                               "value": ["start", "seed"]}], **({"loop_count": 10} | data))
    nodes = [start("seed"), lp, node("lp-start", "loop-start", parent="lp"), *body,
             end(counter=["lp", "counter"], rounds=["lp", "loop_round"], seed=["lp", "seed"],
                 visits=["conversation", "visits"])]
    return graph(nodes, [edge("start", "lp"), edge("lp", "end"), *body_edges],
                 conversation_variables=[{"name": "visits", "value": 0, "value_type": "number"}])


def counting_body():
    items = [INCREMENT, {"variable_selector": ["conversation", "visits"], "input_type": "constant",
                         "operation": "+=", "value": 10}]
    return [node("inc", "assigner", parent="lp", version="2", items=items)], [edge("lp-start", "inc")]


def test_break_condition_stops_the_loop_and_variables_carry_over():
    g = loop_graph(*counting_body(), break_conditions=[
        {"variable_selector": ["lp", "counter"], "comparison_operator": "≥", "value": "3"}])
    result = run(g, {"seed": "s"})
    assert result.outcome.outputs == {"counter": 3, "rounds": 3, "seed": "s", "visits": 30}


def test_loop_end_node_breaks():
    body, body_edges = counting_body()
    body += [node("check", "if-else", parent="lp", cases=[{"case_id": "true", "conditions": [
        {"variable_selector": ["lp", "counter"], "comparison_operator": "=", "value": "2"}]}]),
        node("stop", "loop-end", parent="lp")]
    body_edges += [edge("inc", "check"), edge("check", "stop", "true")]
    result = run(loop_graph(body, body_edges), {"seed": "s"})
    assert result.outcome.outputs["counter"] == 2 and result.outcome.outputs["rounds"] == 2


def test_loop_count_and_limit_cap_rounds():
    assert run(loop_graph(*counting_body(), loop_count=4), {"seed": ""}).outcome.outputs["rounds"] == 4
    capped = run(loop_graph(*counting_body(), loop_count=1000), {"seed": ""}, limits=Limits(max_loop_count=5))
    assert capped.outcome.outputs["counter"] == 5


def test_break_condition_true_before_first_round_runs_nothing():
    g = loop_graph(*counting_body(), break_conditions=[
        {"variable_selector": ["lp", "seed"], "comparison_operator": "is", "value": "stop"}])
    result = run(g, {"seed": "stop"})
    assert result.outcome.outputs["rounds"] == 0 and result.outcome.outputs["counter"] == 0
