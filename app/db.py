"""Database engine, sessions and schema upgrades (SQLAlchemy 2 + Alembic) for Postgres and SQLite, and the
prebuilt statements of a run's hot path (`Prepared`, `direct`).

Owns connection settings per dialect; does not know any model. `upgrade_schema` is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Dialect, Engine, Executable, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10, pre_ping: bool = False) -> Engine:
    """Create an engine tuned for the dialect. SQLite gets WAL and a busy timeout so the API and worker
    processes can share one file."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # Every external call has a timeout: connect in 5 s, statements in 30 s.
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=pre_ping,
        pool_timeout=10,
        connect_args={"connect_timeout": 5, "options": "-c statement_timeout=30000"},
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with factory() as session, session.begin():
        yield session


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_schema(url: str) -> None:
    """Bring the schema up to date (every Alembic head). Safe to run on every start."""
    command.upgrade(alembic_config(url), "heads")


# -- prebuilt statements on the pool's DBAPI connection (issue 18) -------------------------------------------
#
# The writes on a run's hot path (submit, claim, checkpoint, usage row, finish) run several hundred times a
# second. Through a Session, or even a Core Connection, each one pays for the machinery around the statement
# (session and transaction objects, events, the compiled cache lookup, execution context, Python-side
# defaults, result metadata) several times what the driver call itself costs. `Prepared` compiles a Core
# statement once per dialect and `Direct` executes it straight on the DBAPI connection, with the dialect's own
# bind and result processors (JSON and datetimes on SQLite, JSONB casts on Postgres), so the SQL and values are
# those SQLAlchemy would have sent.
#
# It reads a few of SQLAlchemy's underscored attributes (the compiled statement's bind processors and result
# columns, a type's cached result processor, the class manager): stable through 2.x and pinned in
# requirements.txt; tests/app/test_db.py runs every shape on both databases, so an upgrade that moves them
# fails there first.


@dataclass
class _Compiled:
    sql: str
    names: tuple[str, ...] | None  # the parameter order of a positional paramstyle (SQLite); None when named
    fixed: dict[str, Any]  # literal values inside the statement (status = 'running', epoch + 1)
    processors: tuple[tuple[str, Callable[[Any], Any]], ...]
    columns: tuple[str, ...]  # RETURNING column names
    types: tuple[Any, ...]  # and their SQLAlchemy types
    # Result processors by position, found at the first row: some depend on the driver's type codes.
    loaders: tuple[tuple[int, Callable[[Any], Any]], ...] | None = None

    def parameters(self, values: dict[str, Any]) -> Any:
        params = {**self.fixed, **values}
        for key, process in self.processors:  # None too: JSON stores it as 'null', as SQLAlchemy does
            params[key] = process(params[key])
        return params if self.names is None else tuple(params[name] for name in self.names)

    def row(self, raw: Sequence[Any], cursor: Any, dialect: Dialect) -> dict[str, Any]:
        if self.loaders is None:  # psycopg builds `description` anew on each read: once is enough
            description = cursor.description
            found = ((index, kind._cached_result_processor(dialect, description[index][1]))
                     for index, kind in enumerate(self.types))
            self.loaders = tuple((index, load) for index, load in found if load is not None)
        values = list(raw)
        for index, load in self.loaders:
            values[index] = load(values[index])
        return dict(zip(self.columns, values, strict=True))


class Prepared:
    """A Core statement (no Python-side defaults: give every value) compiled once per dialect. `columns` fixes
    the columns of an INSERT (every key its rows will have)."""

    def __init__(self, statement: Executable, columns: Sequence[str] | None = None) -> None:
        self._statement = statement
        self._columns = list(columns) if columns is not None else None
        self._compiled: dict[tuple[str, str], _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        key = (dialect.name, dialect.driver)  # bind casts and processors are the driver's
        done = self._compiled.get(key)
        if done is None:
            done = self._compiled[key] = self._compile(dialect)
        return done

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled: Any = self._statement.compile(dialect=dialect, column_keys=self._columns)
        fixed = {compiled.bind_names[bind]: bind.effective_value for bind in compiled.binds.values()
                 if not bind.required}
        result = compiled._result_columns  # (key, name, objects, type) of each RETURNING column
        return _Compiled(
            sql=compiled.string, names=tuple(compiled.positiontup) if compiled.positional else None, fixed=fixed,
            processors=tuple((key, process) for key, process in compiled._bind_processors.items() if process),
            columns=tuple(column[0] for column in result), types=tuple(column[3] for column in result))


class Direct:
    """Prepared statements on one DBAPI connection, inside the transaction its owner manages."""

    def __init__(self, dbapi_connection: Any, dialect: Dialect) -> None:
        self._conn = dbapi_connection
        self._dialect = dialect

    def execute(self, statement: Prepared, values: dict[str, Any]) -> int:
        """Run `statement`; returns the number of rows it changed."""
        return int(self._run(statement, values, fetch=False))

    def first(self, statement: Prepared, values: dict[str, Any]) -> dict[str, Any] | None:
        """Run `statement` (a SELECT, or a write with RETURNING); its first row by column name, or None."""
        row: dict[str, Any] | None = self._run(statement, values, fetch=True)
        return row

    def _run(self, statement: Prepared, values: dict[str, Any], *, fetch: bool) -> Any:
        compiled = statement.compiled(self._dialect)
        params = compiled.parameters(values)
        cursor = self._conn.cursor()
        try:
            cursor.execute(compiled.sql, params)
            if not fetch:
                return cursor.rowcount
            raw = cursor.fetchone()
            return None if raw is None else compiled.row(raw, cursor, self._dialect)
        except self._dialect.loaded_dbapi.Error as exc:
            # The same exception tree as through a Session (IntegrityError, OperationalError...), so callers
            # and the worker's retry rules see no difference.
            invalidated = self._dialect.is_disconnect(exc, self._conn, cursor)
            raise DBAPIError.instance(compiled.sql, params, exc, self._dialect.loaded_dbapi.Error,
                                      connection_invalidated=invalidated, dialect=self._dialect) from exc
        finally:
            cursor.close()


@contextmanager
def direct(engine: Engine, *, single: bool = False) -> Iterator[Direct]:
    """A pooled connection for prepared statements, committed on success and rolled back on any error. With
    `single` (one statement), Postgres runs it in autocommit: no BEGIN and COMMIT round trips."""
    pooled = engine.raw_connection()
    dbapi = pooled.dbapi_connection
    autocommit = single and engine.dialect.name == "postgresql"
    try:
        if autocommit:
            dbapi.autocommit = True
        yield Direct(dbapi, engine.dialect)
        if not autocommit:
            try:
                dbapi.commit()
            except engine.dialect.loaded_dbapi.Error as exc:
                raise DBAPIError.instance("COMMIT", None, exc, engine.dialect.loaded_dbapi.Error,
                                          dialect=engine.dialect) from exc
    except BaseException as exc:
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            pooled.invalidate(exc)  # a dead connection is not handed out again
        elif not autocommit:
            try:
                dbapi.rollback()
            except engine.dialect.loaded_dbapi.Error:
                pooled.invalidate()  # the original error is the one to report
        raise
    finally:
        if autocommit and pooled.is_valid:
            dbapi.autocommit = False
        pooled.close()  # back to the pool


def session_direct(session: Session) -> Direct:
    """Prepared statements in a session's own transaction (next to ORM writes that need the session)."""
    connection = session.connection()
    return Direct(connection.connection.dbapi_connection, connection.dialect)


def engine_of(sessions: sessionmaker[Session]) -> Engine:
    """The engine a session factory is bound to."""
    bind = sessions.kw["bind"]
    assert isinstance(bind, Engine)
    return bind


def unattached(cls: type[T], values: dict[str, Any]) -> T:
    """An instance of mapped class `cls` holding a row's `values`, as a query would load it but in no session.
    For rows that are only read: the constructor's per-attribute events cost about 60 us per run row, this
    about 4 (issue 18)."""
    instance: T = cls._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    instance.__dict__.update(values)
    return instance
