"""The `sql` node on the real runner with the real SQL runner over SQLite: params come from selectors and are
bound, never interpolated."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.engine.ports import NodeServices
from app.engine.state import RunStatus
from app.errors import InvalidParam
from app.providers.sql import SqlRunner
from tests.app.engine.harness import chain, end, graph, node, run, start


@pytest.fixture
def services(tmp_path: Path) -> NodeServices:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, item TEXT)")
        db.executemany("INSERT INTO orders (customer, item) VALUES (?, ?)", [("ada", "lamp"), ("bob", "desk")])
    return NodeServices(sql=SqlRunner({"shop": f"sqlite:///{path}"}, timeout_seconds=1))


def sql_graph(query: str, connection: str = "shop"):
    return graph([start("customer"), node("s", "sql", connection=connection, query=query,
                                          params=[{"name": "c", "value_selector": ["start", "customer"]}]),
                  end(rows=["s", "rows"], count=["s", "row_count"])], chain("start", "s", "end"))


def test_rows_for_a_bound_parameter(services):
    outcome = run(sql_graph("SELECT item FROM orders WHERE customer = :c"), {"customer": "ada"},
                  services=services).outcome
    assert outcome.status == RunStatus.succeeded
    assert outcome.outputs == {"rows": [{"item": "lamp"}], "count": 1}


def test_injection_stays_a_literal(services):
    outcome = run(sql_graph("SELECT item FROM orders WHERE customer = :c"), {"customer": "x' OR '1'='1"},
                  services=services).outcome
    assert outcome.outputs == {"rows": [], "count": 0}


def test_write_fails_the_node(services):
    outcome = run(sql_graph("DELETE FROM orders WHERE customer = :c"), {"customer": "ada"},
                  services=services).outcome
    assert outcome.status == RunStatus.failed and "read-only" in outcome.error


def test_unknown_connection_and_missing_port(services):
    outcome = run(sql_graph("SELECT 1 AS one WHERE :c IS NOT NULL", "crm"), {"customer": "a"},
                  services=services).outcome
    assert "not configured" in outcome.error
    assert "no configured connections" in run(sql_graph("SELECT 1"), {"customer": "a"}).outcome.error


def test_bad_param_names_are_rejected_at_import():
    with pytest.raises(InvalidParam):
        graph([start(), node("s", "sql", connection="shop", query="SELECT 1",
                             params=[{"name": "x; DROP", "value_selector": ["start", "q"]}])], [])
