"""Run events in the `run_events` table, for the embedded mode: readers poll with a short, growing delay."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.models import RunEvent
from app.providers import json_codec

POLL_MIN_SECONDS = 0.005
POLL_MAX_SECONDS = 0.1


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
        deadline = time.monotonic() + timeout
        delay = POLL_MIN_SECONDS
        last = int(after) if after else 0
        while True:
            with self._sessions() as session:
                rows = session.execute(
                    select(RunEvent.id, RunEvent.payload)
                    .where(RunEvent.run_id == run_id, RunEvent.id > last)
                    .order_by(RunEvent.id).limit(1000)).all()
            if rows or time.monotonic() >= deadline:
                return [(str(row.id), json_codec.loads(row.payload)) for row in rows]
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, POLL_MAX_SECONDS)

    def close(self) -> None:
        return None
