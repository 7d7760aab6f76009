"""The if-else node: the first case whose conditions hold wins, and/or logic, the legacy single-case shape,
values rendered from variables, and `false` when nothing holds."""

from __future__ import annotations

import pytest

from tests.app.engine.harness import edge, end, graph, node, run, start


def cond(selector, operator, value=None):
    return {"variable_selector": selector, "comparison_operator": operator, "value": value}


def branching(if_node):
    """start(x, y) -> if -> one template per handle -> end(picked)."""
    handles = if_node["data"].get("cases") and [c["case_id"] for c in if_node["data"]["cases"]] or ["true"]
    handles = [*handles, "false"]
    leaves = [node(f"t_{h}", "template-transform", template=h, variables=[]) for h in handles]
    agg = node("agg", "variable-aggregator", output_type="string",
               variables=[[f"t_{h}", "output"] for h in handles])
    edges = [edge("start", "if")] + [edge("if", f"t_{h}", h) for h in handles]
    edges += [edge(f"t_{h}", "agg") for h in handles] + [edge("agg", "end")]
    return graph([start("x", "y"), if_node, *leaves, agg, end(picked=["agg", "output"])], edges)


def picked(if_node, **inputs):
    result = run(branching(if_node), inputs)
    return result.outcome.outputs["picked"], result


def test_the_first_case_that_holds_wins_in_order():
    g = node("if", "if-else", cases=[
        {"case_id": "big", "logical_operator": "and", "conditions": [cond(["start", "x"], ">", "10")]},
        {"case_id": "positive", "logical_operator": "and", "conditions": [cond(["start", "x"], ">", "0")]}])
    assert picked(g, x=50)[0] == "big"  # both hold: the first listed wins
    assert picked(g, x=5)[0] == "positive"
    assert picked(g, x=-1)[0] == "false"


@pytest.mark.parametrize(("logic", "x", "y", "expected"), [
    ("and", 1, "a", "c"), ("and", 1, "b", "false"), ("and", 0, "a", "false"),
    ("or", 1, "b", "c"), ("or", 0, "a", "c"), ("or", 0, "b", "false"),
])
def test_and_needs_every_condition_and_or_needs_one(logic, x, y, expected):
    g = node("if", "if-else", cases=[{"case_id": "c", "logical_operator": logic, "conditions": [
        cond(["start", "x"], "=", "1"), cond(["start", "y"], "is", "a")]}])
    assert picked(g, x=x, y=y)[0] == expected


def test_the_legacy_shape_is_one_case_named_true():
    g = node("if", "if-else", logical_operator="or", conditions=[
        cond(["start", "x"], "=", "1"), cond(["start", "y"], "is", "a")])
    assert picked(g, x=0, y="a")[0] == "true"
    assert picked(g, x=0, y="b")[0] == "false"


def test_the_expected_value_is_rendered_from_variables():
    g = node("if", "if-else", cases=[{"case_id": "same", "logical_operator": "and", "conditions": [
        cond(["start", "x"], "is", "{{#start.y#}}")]}])
    assert picked(g, x="abc", y="abc")[0] == "same"
    assert picked(g, x="abc", y="abd")[0] == "false"


def test_the_record_says_what_was_compared_and_which_case_won():
    g = node("if", "if-else", cases=[{"case_id": "c", "logical_operator": "and", "conditions": [
        cond(["start", "x"], "≥", "3")]}])
    _, result = picked(g, x=3)
    record = result.record("if")
    assert record.edge_handle == "c"
    assert record.inputs == {}
    assert record.outputs == {"result": True, "selected_case_id": "c"}
    assert record.process_data["condition_results"] == [
        {"actual_value": 3, "expected_value": "3", "comparison_operator": "≥"}]
    _, result = picked(g, x=2)
    assert result.record("if").outputs == {"result": False, "selected_case_id": "false"}


def test_a_list_value_is_compared_as_a_list_not_rendered_as_text():
    g = node("if", "if-else", cases=[{"case_id": "both", "logical_operator": "and", "conditions": [
        cond(["start", "x"], "all of", ["a", "b"])]}])
    assert picked(g, x=["a", "b", "c"])[0] == "both"


def test_the_false_record_keeps_what_was_compared():
    g = node("if", "if-else", cases=[{"case_id": "c", "logical_operator": "and", "conditions": [
        cond(["start", "x"], "is", "yes")]}])
    _, result = picked(g, x="no")
    record = result.record("if")
    assert record.inputs == {}
    assert record.process_data == {"condition_results": [
        {"actual_value": "no", "expected_value": "yes", "comparison_operator": "is"}]}
