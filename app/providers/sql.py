"""Read-only SQL against named connections, for the `sql` node.

Only connections named in settings can be reached. Each query runs on a fresh connection (no pool, so no session
state outlives it) in a read-only transaction with a statement timeout, binds `:name` parameters through the
driver (values never touch the SQL text), returns at most `max_rows` rows and always rolls back.
Postgres: `SET TRANSACTION READ ONLY`, `SET LOCAL statement_timeout`, every statement sent as a prepared statement
(so `SELECT 1; DELETE ...` is refused by the server), and superuser roles refused: superusers can read server
files or run programs even from a read-only transaction. SQLite: opened `mode=ro` with `query_only`, one statement
per call, and a progress handler that interrupts a query past its deadline. Imports nothing from `app.engine`.
"""

from __future__ import annotations

import base64
import datetime as dt
import sqlite3
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, make_url, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from app.errors import WorkflowError


@dataclass(frozen=True)
class QueryResult:
    rows: list[dict[str, Any]]
    truncated: bool


class SqlRunner:
    """Thread-safe: engines are created once per connection name; every query opens its own connection."""

    def __init__(self, connections: Mapping[str, str], timeout_seconds: float = 10.0, max_rows: int = 1000,
                 allow_superuser: bool = False) -> None:
        self._urls = dict(connections)
        self._timeout = timeout_seconds
        self.max_rows = max_rows
        self._allow_superuser = allow_superuser
        self._engines: dict[str, Engine] = {}

    @property
    def names(self) -> list[str]:
        return sorted(self._urls)

    def query(self, connection: str, sql: str, params: Mapping[str, Any], max_rows: int | None = None) -> QueryResult:
        """Run one read-only statement. Raises WorkflowError for unknown connections, writes, timeouts and
        database errors (the message never includes the connection URL)."""
        if connection not in self._urls:
            raise WorkflowError(f"SQL connection {connection!r} is not configured")
        cap = min(max_rows or self.max_rows, self.max_rows)
        engine = self._engine(connection)
        try:
            with engine.connect() as conn:
                try:
                    if engine.dialect.name == "postgresql":
                        self._begin_postgres(conn)
                    else:
                        self._begin_sqlite(conn)
                    result = conn.execute(text(sql), dict(params))
                    if not result.returns_rows:
                        raise WorkflowError("the SQL node runs queries that return rows")
                    batch = result.mappings().fetchmany(cap + 1)
                    rows = [{k: _jsonable(v) for k, v in row.items()} for row in batch[:cap]]
                finally:
                    conn.rollback()
        except DBAPIError as exc:
            raise WorkflowError(self._describe(exc)) from None
        except SQLAlchemyError as exc:
            raise WorkflowError(f"SQL query failed: {type(exc).__name__}") from None
        return QueryResult(rows=rows, truncated=len(batch) > cap)

    def _begin_postgres(self, conn: Connection) -> None:
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(self._timeout * 1000))}")
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {max(1, int(self._timeout * 1000))}")
        if not self._allow_superuser and conn.exec_driver_sql(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").scalar():
            raise WorkflowError("SQL connection uses a superuser role; configure a read-only role instead")

    def _begin_sqlite(self, conn: Connection) -> None:
        raw = conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        deadline = time.monotonic() + self._timeout
        raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)

    def _describe(self, exc: DBAPIError) -> str:
        message = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        lowered = message.lower()
        if "statement timeout" in lowered or "interrupted" in lowered:
            return f"SQL query timed out after {self._timeout:g}s"
        if "read-only" in lowered or "readonly" in lowered:
            return f"SQL connection is read-only: {message}"
        return f"SQL query failed: {message}"

    def _engine(self, name: str) -> Engine:
        engine = self._engines.get(name)
        if engine is None:
            engine = self._engines[name] = _make_engine(self._urls[name], self._timeout)
        return engine

    def close(self) -> None:
        for engine in self._engines.values():
            engine.dispose()


def _make_engine(url_text: str, timeout: float) -> Engine:
    for prefix in ("postgres://", "postgresql://"):
        if url_text.startswith(prefix):
            url_text = "postgresql+psycopg://" + url_text[len(prefix):]
    url = make_url(url_text)
    if url.get_backend_name() == "postgresql":
        # prepare_threshold=0: every statement goes through Parse/Bind, which admits one command only.
        return create_engine(url, poolclass=NullPool, connect_args={
            "prepare_threshold": 0, "connect_timeout": max(1, int(min(timeout, 10)))})
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        if not path or path == ":memory:":
            raise WorkflowError("an SQLite SQL connection needs a database file")

        def connect() -> sqlite3.Connection:
            raw = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=timeout, check_same_thread=False)
            raw.execute("PRAGMA query_only = ON")
            return raw

        return create_engine("sqlite://", creator=connect, poolclass=NullPool)
    raise WorkflowError(f"SQL connections support postgresql and sqlite, not {url.get_backend_name()!r}")


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)
