"""Run events in the `run_events` table, for the embedded mode: readers poll with a short, growing delay.
`wait_final` polls the same way but reads only the rows that can be the run's `workflow_finished`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Select, case, select
from sqlalchemy.orm import Session, sessionmaker

from app.models import RunEvent
from app.providers import json_codec

POLL_MIN_SECONDS = 0.005
POLL_MAX_SECONDS = 0.1
FINISHED = "workflow_finished"


class SqlEventLog:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def append(self, run_id: str, payload: dict[str, Any]) -> str:
        with self._sessions() as session, session.begin():
            event = RunEvent(run_id=run_id, payload=json_codec.dumps(payload))
            session.add(event)
            session.flush()
            return str(event.id)

    def append_many(self, run_id: str, payloads: list[dict[str, Any]]) -> None:
        if payloads:
            with self._sessions() as session, session.begin():
                session.add_all([RunEvent(run_id=run_id, payload=json_codec.dumps(payload))
                                 for payload in payloads])

    def read(self, run_id: str, after: str | None, timeout: float) -> list[tuple[str, dict[str, Any]]]:
        last = int(after) if after else 0
        query = (select(RunEvent.id, RunEvent.payload).where(RunEvent.run_id == run_id, RunEvent.id > last)
                 .order_by(RunEvent.id).limit(1000))
        return [(str(row.id), json_codec.loads(row.payload)) for row in self._poll(query, timeout)]

    def wait_final(self, run_id: str, timeout: float) -> dict[str, Any] | None:
        # Each poll reads only the rows added since the last one, and of those only the payloads that can be the
        # finish: the LIKE is a superset (the name is ASCII, so it appears verbatim in any JSON encoding) and the
        # parsed payload decides, since a node's outputs may hold the same words.
        deadline = time.monotonic() + timeout
        candidate = case((RunEvent.payload.like(f"%{FINISHED}%"), RunEvent.payload), else_=None)
        last = 0
        while True:
            query = (select(RunEvent.id, candidate.label("payload"))
                     .where(RunEvent.run_id == run_id, RunEvent.id > last).order_by(RunEvent.id).limit(1000))
            for row in self._poll(query, deadline - time.monotonic()):
                last = row.id
                if row.payload is not None:
                    payload: dict[str, Any] = json_codec.loads(row.payload)
                    if payload.get("event") == FINISHED:
                        return payload
            if time.monotonic() >= deadline:
                return None

    def _poll(self, query: Select[Any], timeout: float) -> Sequence[Row[Any]]:
        """The rows of `query`, polled until there are some or `timeout` passes."""
        deadline = time.monotonic() + timeout
        delay = POLL_MIN_SECONDS
        while True:
            with self._sessions() as session:
                rows = session.execute(query).all()
            if rows or time.monotonic() >= deadline:
                return rows
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, POLL_MAX_SECONDS)

    def close(self) -> None:
        return None
