"""Admission of new runs: Idempotency-Key replay and concurrency caps. Both are derived from the run rows
themselves, so nothing can leak: a slot is free as soon as a run is final, however it got there."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.errors import Conflict, TooManyRequests
from app.models import App, WorkflowRun
from app.models.base import as_utc, utcnow

ACTIVE = ("queued", "running")


def request_hash(body: dict[str, Any]) -> str:
    """A stable hash of a request body, to tell a retry from a different request under the same key."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


class Admission:
    def __init__(self, default_max_active_runs: int = 0, idempotency_ttl_seconds: float = 86400.0) -> None:
        self._default_cap = default_max_active_runs
        self._ttl = timedelta(seconds=idempotency_ttl_seconds)

    def replay(self, session: Session, app_id: str, key: str, body_hash: str | None) -> WorkflowRun | None:
        """The run an earlier request with this key created, if still within the TTL. Raises Conflict when the
        key was used with a different body. An expired key is released for reuse."""
        run = session.scalars(select(WorkflowRun).where(WorkflowRun.app_id == app_id,
                                                        WorkflowRun.idempotency_key == key)).first()
        if run is None:
            return None
        created = as_utc(run.created_at)
        if created is not None and utcnow() - created > self._ttl:
            session.execute(update(WorkflowRun).where(WorkflowRun.id == run.id).values(idempotency_key=None))
            return None
        if run.request_hash and body_hash and run.request_hash != body_hash:
            raise Conflict("Idempotency-Key was already used with a different request body",
                           params="Idempotency-Key")
        return run

    def capped(self, app_cap: int | None) -> bool:
        """Whether `check_capacity` with this `app_cap` has anything to check (it need not be called if not)."""
        return app_cap is None or (app_cap or self._default_cap) > 0

    def check_capacity(self, session: Session, app_id: str, app_cap: int | None = None) -> None:
        """Raise TooManyRequests (429) when the app already has its cap of queued + running runs. `app_cap` is
        the app's own cap when the caller has just read the app row (None: read it here)."""
        if app_cap is None:
            app_cap = session.scalar(select(App.max_active_runs).where(App.id == app_id)) or 0
        cap = app_cap or self._default_cap
        if cap <= 0:
            return
        active = session.scalar(select(func.count(WorkflowRun.id)).where(
            WorkflowRun.app_id == app_id, WorkflowRun.status.in_(ACTIVE))) or 0
        if active >= cap:
            raise TooManyRequests(f"This app already has {active} active runs (limit {cap}); retry when one "
                                  f"finishes.")
