"""A private SQLite database of runs for the fast unit tests of leases, the heartbeat, the reaper and the
executor: migrated and given its apps once per session, then copied per test (milliseconds instead of the
seconds a container takes), so a mutation run can afford to run those tests for every mutant."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from app.db import make_engine, make_session_factory, transaction
from app.models import WorkflowRun
from app.models.base import utcnow


class FrozenClock:
    """A clock for `Leases(clock=...)` that stands still (at a whole second) until the test moves it."""

    def __init__(self) -> None:
        self.now = utcnow().replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass(frozen=True)
class RunTemplate:
    """The migrated database file and the ids of the apps imported into it (DSL name -> version)."""
    path: Path
    workspace_id: str
    apps: dict[str, tuple[str, str]]  # name -> (app id, workflow version id)


class RunTable:
    """One test's copy of the template: its sessions, and runs written straight into `workflow_runs`."""

    def __init__(self, template: RunTemplate, folder: Path) -> None:
        target = folder / "runs.db"
        shutil.copyfile(template.path, target)
        self._engine = make_engine(f"sqlite:///{target}")
        self.sessions: sessionmaker[Session] = make_session_factory(self._engine)
        self.workspace_id = template.workspace_id
        # Tests may import more apps into their copy: name -> (app id, workflow version id).
        self.apps = dict(template.apps)

    def add(self, app: str = "hello", **values: Any) -> str:
        """A queued run of `app` (as submitted a moment ago), with `values` overriding any column."""
        app_id, version_id = self.apps[app]
        fields: dict[str, Any] = {"id": str(uuid.uuid4()), "task_id": str(uuid.uuid4()), "status": "queued",
                                  "workspace_id": self.workspace_id, "app_id": app_id,
                                  "workflow_version_id": version_id, "inputs": {}, "enqueued_at": utcnow()}
        fields.update(values)
        with transaction(self.sessions) as session:
            session.add(WorkflowRun(**fields))
        return str(fields["id"])

    def set(self, run_id: str, **values: Any) -> None:
        with transaction(self.sessions) as session:
            session.execute(update(WorkflowRun).where(WorkflowRun.id == run_id).values(**values))

    def row(self, run_id: str) -> WorkflowRun | None:
        with self.sessions() as session:
            return session.get(WorkflowRun, run_id)

    def close(self) -> None:
        self._engine.dispose()
