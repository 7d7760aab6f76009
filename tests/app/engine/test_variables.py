"""The variable pool: system variables addressed through the start node, as older Dify exports do."""

from __future__ import annotations

from app.engine.variables import VariablePool


def test_system_variables_through_the_start_node():
    pool = VariablePool()
    pool.set("sys", "query", "find the manual")
    pool.set("sys", "files", [{"filename": "a.txt"}])
    pool.set_node_outputs("1711", {"topic": "docs"})
    assert pool.get(["1711", "sys.query"]) == "find the manual"
    assert pool.get(["1711", "sys.files", "0", "filename"]) == "a.txt"
    assert pool.render("{{#1711.sys.query#}} / {{#1711.topic#}}") == "find the manual / docs"
    assert pool.get(["1711", "sys.missing"]) is None


def test_a_real_variable_of_that_name_wins():
    pool = VariablePool()
    pool.set("sys", "query", "from sys")
    pool.set_node_outputs("start", {"sys.query": "own", "sys": {"query": "nested"}})
    assert pool.get(["start", "sys.query"]) == "own"
    assert pool.get(["start", "sys", "query"]) == "nested"
