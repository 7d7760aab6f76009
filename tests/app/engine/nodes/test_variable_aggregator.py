"""`variable-aggregator` (and its old name `variable-assigner`): first value of the branch that ran, groups."""

from __future__ import annotations

import pytest

from app.engine.state import RunStatus
from tests.app.engine.harness import edge, end, graph, node, run, start


def branching(agg: dict) -> list:
    nodes = [start("x"), node("if", "if-else", cases=[{"case_id": "true", "conditions": [
        {"variable_selector": ["start", "x"], "comparison_operator": "is", "value": "a"}]}]),
        node("ta", "template-transform", template="took A"), node("tb", "template-transform", template="took B"),
        agg, end(out=["agg", "output"])]
    edges = [edge("start", "if"), edge("if", "ta", "true"), edge("if", "tb", "false"), edge("ta", "agg"),
             edge("tb", "agg"), edge("agg", "end")]
    return [nodes, edges]


@pytest.mark.parametrize("type_name", ["variable-aggregator", "variable-assigner"])
def test_picks_the_branch_that_ran(type_name):
    agg = node("agg", type_name, output_type="string", variables=[["ta", "output"], ["tb", "output"]])
    g = graph(*branching(agg))
    assert run(g, {"x": "a"}).outcome.outputs == {"out": "took A"}
    second = run(g, {"x": "b"})
    assert second.outcome.outputs == {"out": "took B"}
    assert second.record("agg").status == "succeeded"


def test_groups_output_per_group_name():
    agg = node("agg", "variable-aggregator", variables=[], advanced_settings={"group_enabled": True, "groups": [
        {"group_name": "G1", "variables": [["ta", "output"], ["tb", "output"]]},
        {"group_name": "G2", "variables": [["start", "x"]]}]})
    nodes, edges = branching(agg)
    nodes[-1] = end(g1=["agg", "G1", "output"], g2=["agg", "G2", "output"])
    result = run(graph(nodes, edges), {"x": "b"})
    assert result.outcome.status == RunStatus.succeeded
    assert result.outcome.outputs == {"g1": "took B", "g2": "b"}


def test_nothing_set_gives_none():
    g = graph([start(), node("agg", "variable-aggregator", variables=[["start", "missing"]]),
               end(out=["agg", "output"])], [edge("start", "agg"), edge("agg", "end")])
    assert run(g).outcome.outputs == {"out": None}
