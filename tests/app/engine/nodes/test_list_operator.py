"""`list-operator`: filter, extract, order, limit; first/last records; files by attribute."""

from __future__ import annotations

from tests.app.engine.harness import edge, end, graph, node, run, start

FILES = [{"filename": "b.pdf", "extension": ".pdf", "size": 30}, {"filename": "a.txt", "extension": ".txt", "size": 5},
         {"filename": "c.pdf", "extension": ".pdf", "size": 10}]


def list_graph(**data):
    lo = node("lo", "list-operator", variable=["start", "items"], **data)
    return graph([start(), lo, end(result=["lo", "result"], first=["lo", "first_record"], last=["lo", "last_record"])],
                 [edge("start", "lo"), edge("lo", "end")])


def test_filter_order_limit_on_numbers():
    g = list_graph(filter_by={"enabled": True, "conditions": [{"comparison_operator": ">", "value": "2"}]},
                   order_by={"enabled": True, "value": "desc"}, limit={"enabled": True, "size": 2})
    outputs = run(g, {"items": [5, 1, 9, 3, 2]}).outcome.outputs
    assert outputs == {"result": [9, 5], "first": 9, "last": 5}


def test_files_filtered_and_sorted_by_attribute():
    g = list_graph(filter_by={"enabled": True, "conditions": [
        {"key": "extension", "comparison_operator": "is", "value": ".pdf"}]},
        order_by={"enabled": True, "key": "size", "value": "asc"})
    result = run(g, {"items": FILES}).outcome.outputs["result"]
    assert [f["filename"] for f in result] == ["c.pdf", "b.pdf"]


def test_extract_by_serial_and_empty_result():
    picked = run(list_graph(extract_by={"enabled": True, "serial": "2"}), {"items": ["x", "y", "z"]})
    assert picked.outcome.outputs == {"result": ["y"], "first": "y", "last": "y"}
    empty = run(list_graph(filter_by={"enabled": True, "conditions": [
        {"comparison_operator": "contains", "value": "q"}]}), {"items": ["x"]})
    assert empty.outcome.outputs == {"result": [], "first": None, "last": None}


def test_not_a_list_fails():
    outcome = run(list_graph(), {"items": "text"}).outcome
    assert outcome.status == "failed" and "not an array" in outcome.error
