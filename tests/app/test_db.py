"""Prebuilt statements on the pool's DBAPI connection (app/db.py) on both backends: values go in and come back
as through SQLAlchemy, errors keep SQLAlchemy's exception tree, a failed transaction leaves nothing behind and
the connection goes back to the pool usable."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import bindparam, insert, null, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.db import (
    Prepared,
    direct,
    engine_of,
    make_engine,
    make_session_factory,
    session_direct,
    transaction,
    unattached,
    upgrade_schema,
)
from app.models import LlmCall, WorkflowRun
from app.models.base import as_utc, utcnow

_CALLS = LlmCall.__table__
_INSERT = Prepared(insert(_CALLS), columns=[column.key for column in _CALLS.c])
_BUMP = Prepared(update(_CALLS).where(_CALLS.c.id == bindparam("call_id"))
                 .values(prompt_tokens=_CALLS.c.prompt_tokens + 1, outcome="error").returning(*_CALLS.c))


@pytest.fixture(params=["sqlite", "postgres"])
def sessions(request: pytest.FixtureRequest, tmp_path) -> Iterator[sessionmaker[Session]]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else f"sqlite:///{tmp_path}/db"
    upgrade_schema(url)
    engine = make_engine(url, pool_size=1, max_overflow=0)  # one connection: every test reuses it
    yield make_session_factory(engine)
    engine.dispose()


def _call(**values) -> dict:
    row = {"id": str(uuid.uuid4()), "workspace_id": None, "app_id": None, "run_id": None, "kind": "chat",
           "provider": "openai", "model": "m", "prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3,
           "price_nanos": 10**12, "currency": "USD", "latency": 0.25, "ttft": None, "outcome": "success",
           "created_at": utcnow()}
    return {**row, **values}


def test_values_round_trip_and_returning_reads_them_as_the_orm_does(sessions):
    engine = engine_of(sessions)
    row = _call()
    with direct(engine, single=True) as db:
        assert db.execute(_INSERT, row) == 1
    with direct(engine, single=True) as db:
        back = db.first(_BUMP, {"call_id": row["id"]})
        assert db.first(_BUMP, {"call_id": "missing"}) is None
    assert back is not None and back["prompt_tokens"] == 2 and back["outcome"] == "error"
    assert back["price_nanos"] == 10**12 and back["ttft"] is None and back["latency"] == 0.25
    assert as_utc(back["created_at"]) == row["created_at"]
    with sessions() as session:
        stored = session.get(LlmCall, row["id"])
        assert stored is not None and stored.prompt_tokens == 2


def test_json_none_is_json_null_and_sql_null_stays_null_as_through_sqlalchemy(sessions, run_ids):
    runs = WorkflowRun.__table__
    statement = Prepared(update(runs).where(runs.c.id == bindparam("run")).values(outputs=bindparam("out")))
    first, second = run_ids(sessions, 2)
    with direct(engine_of(sessions)) as db:
        db.execute(statement, {"run": first, "out": None})
        db.execute(statement, {"run": second, "out": null()})
    with sessions() as session:
        nulls = dict(session.execute(select(runs.c.id, runs.c.outputs.is_(None))
                                     .where(runs.c.id.in_([first, second]))).all())
    assert nulls == {first: False, second: True}


def test_a_failed_transaction_writes_nothing_and_raises_sqlalchemys_error(sessions):
    engine = engine_of(sessions)
    row = _call()
    with pytest.raises(IntegrityError), direct(engine) as db:
        db.execute(_INSERT, _call())
        db.execute(_INSERT, row)
        db.execute(_INSERT, row)  # the same id again
    with pytest.raises(IntegrityError), direct(engine, single=True) as db:
        db.execute(_INSERT, {**row, "id": None})
    # The pool's only connection is back and usable, in a transaction again (not autocommit).
    with pytest.raises(RuntimeError), direct(engine) as db:
        db.execute(_INSERT, _call())
        raise RuntimeError("rolled back")
    with sessions() as session:
        assert session.scalar(select(LlmCall.id).limit(1)) is None


def test_statements_run_in_a_sessions_transaction(sessions):
    row = _call()
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        session_direct(session).execute(_INSERT, row)
        raise RuntimeError("rolled back with the session")
    with transaction(sessions) as session:
        session_direct(session).execute(_INSERT, row)
        session.execute(update(LlmCall).where(LlmCall.id == row["id"]).values(model="n"))
    with sessions() as session:
        assert session.scalar(select(LlmCall.model).where(LlmCall.id == row["id"])) == "n"


def test_an_unattached_row_reads_like_a_loaded_one_and_belongs_to_no_session(sessions, run_ids):
    (run_id,) = run_ids(sessions, 1)
    with sessions() as session:
        values = dict(session.execute(select(*WorkflowRun.__table__.c).where(WorkflowRun.id == run_id))
                      .one()._mapping)
    run = unattached(WorkflowRun, values)
    assert isinstance(run, WorkflowRun) and run.id == run_id and run.inputs == {"x": 1} and run.epoch == 0
    with sessions() as session:
        assert run not in session and session.get(WorkflowRun, run_id) is not run


@pytest.fixture
def run_ids():
    def make(sessions: sessionmaker[Session], count: int) -> list[str]:
        from app.services.accounts import Accounts
        from app.services.apps import Apps
        from tests.conftest import SAMPLES

        workspace = Accounts(sessions).default_workspace_id()
        app = Apps(sessions).import_dsl(workspace, (SAMPLES / "hello.yml").read_text())
        ids = [str(uuid.uuid4()) for _ in range(count)]
        with transaction(sessions) as session:
            for run_id in ids:
                session.add(WorkflowRun(id=run_id, task_id=str(uuid.uuid4()), workspace_id=workspace, app_id=app.id,
                                        workflow_version_id=app.published_version_id, inputs={"x": 1},
                                        enqueued_at=utcnow() - timedelta(seconds=1)))
        return ids

    return make



def test_node_rows_of_an_attempt_go_in_by_threes_and_round_trip(sessions, run_ids):
    from app.models import NodeExecution
    from app.services.execution import NODE_INSERT_ROWS, _insert_nodes, _record
    from tests.app.services.execution_bench import node_record

    (run_id,) = run_ids(sessions, 1)
    records = [dataclasses.replace(node_record(f"n{index}", "llm", tokens=index), index=index) for index in range(7)]
    rows = [({"id": r.execution_id, "run_id": run_id, "node_id": r.node_id, "node_type": r.node_type,
              "title": r.title, "index": r.index, "predecessor_node_id": r.predecessor_node_id,
              "status": str(r.status), "inputs": r.inputs, "process_data": r.process_data, "outputs": r.outputs,
              "edge_handle": r.edge_handle, "error": r.error, "elapsed_time": r.elapsed_time,
              "total_tokens": r.total_tokens, "execution_metadata": r.metadata, "epoch": 4,
              "finished_at": utcnow()}, 0) for r in records]
    assert len(rows) > 2 * NODE_INSERT_ROWS  # full chunks and a partial one
    with direct(engine_of(sessions)) as db:
        _insert_nodes(db, rows)
    with sessions() as session:
        stored = session.scalars(select(NodeExecution).where(NodeExecution.run_id == run_id)
                                 .order_by(NodeExecution.index)).all()
    assert [_record(row) for row in stored] == records
    assert all(row.epoch == 4 and row.created_at == row.finished_at is not None for row in stored)
