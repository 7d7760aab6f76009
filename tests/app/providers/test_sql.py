"""The read-only SQL runner on real SQLite and real Postgres: writes refused, slow queries cut off, parameters
bound (an injection attempt stays a literal), rows capped, superuser roles refused."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from app.errors import WorkflowError
from app.providers.sql import SqlRunner

INJECTION = "x' OR '1'='1"


@pytest.fixture
def sqlite_runner(tmp_path: Path) -> SqlRunner:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, total REAL)")
        db.executemany("INSERT INTO orders (customer, total) VALUES (?, ?)",
                       [("ada", 10.5), ("bob", 3.0), ("ada", 7.25)] + [(f"c{i}", i) for i in range(20)])
    return SqlRunner({"shop": f"sqlite:///{path}"}, timeout_seconds=0.5, max_rows=5)


def test_sqlite_parameterized_query(sqlite_runner):
    result = sqlite_runner.query("shop", "SELECT customer, total FROM orders WHERE customer = :c ORDER BY id",
                                 {"c": "ada"})
    assert result.rows == [{"customer": "ada", "total": 10.5}, {"customer": "ada", "total": 7.25}]
    assert sqlite_runner.query("shop", "SELECT * FROM orders WHERE customer = :c", {"c": INJECTION}).rows == []


def test_sqlite_rows_are_capped(sqlite_runner):
    result = sqlite_runner.query("shop", "SELECT id FROM orders", {})
    assert len(result.rows) == 5 and result.truncated
    assert len(sqlite_runner.query("shop", "SELECT id FROM orders", {}, max_rows=2).rows) == 2


@pytest.mark.parametrize("sql", ["DELETE FROM orders", "UPDATE orders SET total = 0",
                                 "INSERT INTO orders (customer) VALUES ('x')", "DROP TABLE orders",
                                 "SELECT 1; DELETE FROM orders"])
def test_sqlite_writes_are_refused(sqlite_runner, sql):
    with pytest.raises(WorkflowError):
        sqlite_runner.query("shop", sql, {})
    assert len(sqlite_runner.query("shop", "SELECT id FROM orders", {}, max_rows=5).rows) == 5


def test_sqlite_slow_query_times_out(sqlite_runner):
    slow = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n")
    with pytest.raises(WorkflowError, match="timed out"):
        sqlite_runner.query("shop", slow, {})


def test_unknown_connection_is_refused(sqlite_runner):
    with pytest.raises(WorkflowError, match="not configured"):
        sqlite_runner.query("other", "SELECT 1", {})


@pytest.fixture
def pg(postgres_url: str) -> Iterator[tuple[str, str]]:
    """The test database with a table and a least-privilege role that may only SELECT it."""
    role = f"ro_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, customer text, total numeric(10,2))")
        conn.execute("INSERT INTO orders (customer, total) VALUES ('ada', 10.50), ('bob', 3), ('ada', 7.25)")
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"GRANT SELECT ON orders TO {role}")
    head, _, tail = postgres_url.partition("://")
    rest = tail.split("@", 1)[1]
    yield postgres_url, f"{head}://{role}@{rest}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")


def test_postgres_parameterized_read_only_query(pg):
    runner = SqlRunner({"shop": pg[1]}, timeout_seconds=1)
    result = runner.query("shop", "SELECT customer, total FROM orders WHERE customer = :c ORDER BY id", {"c": "ada"})
    assert result.rows == [{"customer": "ada", "total": 10.5}, {"customer": "ada", "total": 7.25}]
    assert runner.query("shop", "SELECT * FROM orders WHERE customer = :c", {"c": INJECTION}).rows == []


@pytest.mark.parametrize("sql", ["DELETE FROM orders", "SELECT 1; DELETE FROM orders",
                                 "COMMIT; DELETE FROM orders",
                                 "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d"])
def test_postgres_writes_are_refused_even_for_the_owner(pg, sql):
    runner = SqlRunner({"shop": pg[0]}, timeout_seconds=1, allow_superuser=True)
    with pytest.raises(WorkflowError):
        runner.query("shop", sql, {})
    with psycopg.connect(pg[0]) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (3,)


def test_postgres_slow_query_times_out(pg):
    runner = SqlRunner({"shop": pg[1]}, timeout_seconds=0.3)
    with pytest.raises(WorkflowError, match="timed out"):
        runner.query("shop", "SELECT pg_sleep(5)", {})


def test_postgres_superuser_connection_is_refused(pg):
    with pytest.raises(WorkflowError, match="superuser"):
        SqlRunner({"shop": pg[0]}).query("shop", "SELECT 1 AS one", {})
