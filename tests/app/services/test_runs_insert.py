"""The run row a submission writes (app/services/runs.py `_insert_run`): the caller's values, the model's
defaults for the rest, and SQL NULL (not JSON 'null') in the JSON columns nobody set."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from app.db import direct, engine_of
from app.models import WorkflowRun
from app.models.base import utcnow
from app.services.runs import _insert_run


def test_a_submitted_run_gets_every_default_and_no_json_null(run_table):
    app_id, version_id = run_table.apps["hello"]
    before = utcnow()
    run = WorkflowRun(id=str(uuid.uuid4()), task_id=str(uuid.uuid4()), workspace_id=run_table.workspace_id,
                      app_id=app_id, workflow_version_id=version_id, status="queued", response_mode="streaming",
                      inputs={"q": "hi"}, enqueued_at=before, trace=None)
    with direct(engine_of(run_table.sessions), single=True) as db:
        _insert_run(db, run)
    stored = run_table.row(run.id)
    assert stored is not None
    assert (stored.status, stored.response_mode, stored.created_from, stored.inputs) == \
        ("queued", "streaming", "service-api", {"q": "hi"})
    assert (stored.epoch, stored.attempts, stored.total_tokens, stored.total_price_nanos, stored.price_currency,
            stored.stop_requested, stored.outputs, stored.started_at) == (0, 0, 0, 0, "USD", False, None, None)
    assert stored.created_at is not None
    with run_table.sessions() as session:
        outputs_null = session.scalar(select(WorkflowRun.outputs.is_(None)).where(WorkflowRun.id == run.id))
    assert outputs_null  # a log search for "null" must not find every fresh run
