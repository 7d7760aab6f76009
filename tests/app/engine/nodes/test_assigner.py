"""`assigner` v1 and v2: writes to conversation variables through the runner's pool."""

from __future__ import annotations

import pytest

from app.engine.nodes.assigner import apply
from app.errors import WorkflowError
from tests.app.engine.harness import edge, end, graph, node, run, start

CONVERSATION = [{"name": "topics", "value": ["a"], "value_type": "array[string]"},
                {"name": "count", "value": 1, "value_type": "number"},
                {"name": "last", "value": "", "value_type": "string"}]


def assigner_graph(assigner):
    nodes = [start("q"), assigner, end(topics=["conversation", "topics"], count=["conversation", "count"],
                                       last=["conversation", "last"])]
    return graph(nodes, [edge("start", "as"), edge("as", "end")], conversation_variables=CONVERSATION)


def test_v1_overwrite_and_append():
    over = node("as", "assigner", assigned_variable_selector=["conversation", "last"],
                input_variable_selector=["start", "q"], write_mode="over-write")
    result = run(assigner_graph(over), {"q": "hello"})
    assert result.outcome.outputs["last"] == "hello"
    assert result.runner.pool.get(["conversation", "last"]) == "hello"
    append = node("as", "assigner", assigned_variable_selector=["conversation", "topics"],
                  input_variable_selector=["start", "q"], write_mode="append")
    assert run(assigner_graph(append), {"q": "b"}).outcome.outputs["topics"] == ["a", "b"]


def test_v2_items_apply_in_order_and_report_updates():
    v2 = node("as", "assigner", version="2", items=[
        {"variable_selector": ["conversation", "count"], "input_type": "constant", "operation": "+=", "value": 4},
        {"variable_selector": ["conversation", "count"], "input_type": "constant", "operation": "*=", "value": 2},
        {"variable_selector": ["conversation", "topics"], "input_type": "constant", "operation": "extend",
         "value": ["x", "y"]},
        {"variable_selector": ["conversation", "topics"], "operation": "remove-first"},
        {"variable_selector": ["conversation", "last"], "input_type": "variable", "operation": "over-write",
         "value": ["start", "q"]}])
    result = run(assigner_graph(v2), {"q": "hi"})
    assert result.outcome.outputs == {"topics": ["x", "y"], "count": 10, "last": "hi"}
    updates = result.record("as").process_data["updated_variables"]
    assert {u["name"]: u["new_value"] for u in updates} == {"count": 10, "topics": ["x", "y"], "last": "hi"}


def test_conversation_values_passed_in_override_defaults():
    clear = node("as", "assigner", version="2", items=[{"variable_selector": ["conversation", "topics"],
                                                         "operation": "clear"}])
    result = run(assigner_graph(clear), {"q": "x"}, conversation={"topics": ["p", "q"], "count": 7})
    assert result.outcome.outputs == {"topics": [], "count": 7, "last": ""}


def test_type_errors():
    with pytest.raises(WorkflowError):
        apply("+=", "text", 1)
    with pytest.raises(WorkflowError):
        apply("/=", 3, 0)
    with pytest.raises(WorkflowError):
        apply("append", "not a list", 1)
    assert apply("remove-last", [1, 2], None) == [1]
