"""`Runs.wait_finished` on both event logs: it waits on the log's `wait_final` (issue 18) and answers every way a
run ends (the executor, the stop of a queued run), and from the run row when the finish never reaches the log."""

from __future__ import annotations

import time
import uuid

import pytest
import yaml

from app import create_app
from app.services import runs as runs_module
from tests.conftest import ADMIN, app_key, build_test_container, import_app

DSL = yaml.safe_dump({"app": {"name": "echo", "mode": "workflow"}, "kind": "app", "version": "0.3.1", "workflow": {
    "graph": {"nodes": [
        {"id": "start", "data": {"type": "start", "title": "Start",
                                 "variables": [{"variable": "x", "type": "text-input", "required": True}]}},
        {"id": "t", "data": {"type": "template-transform", "title": "T", "template": "got {{ x }}",
                             "variables": [{"variable": "x", "value_selector": ["start", "x"]}]}},
        {"id": "end", "data": {"type": "end", "title": "End",
                               "outputs": [{"variable": "out", "value_selector": ["t", "output"]}]}}],
        "edges": [{"source": "start", "target": "t"}, {"source": "t", "target": "end"}]}}})


@pytest.fixture(params=["sql", "redis"])
def runs_container(request, make_settings, services):  # type: ignore[no-untyped-def]
    extra = {} if request.param == "sql" else {"redis_url": services.redis_url,
                                                 "huey_name": f"wait-{uuid.uuid4().hex[:8]}"}
    container = build_test_container(make_settings(**extra))
    client = create_app(container.settings, container).test_client()
    container.accounts.ensure_admin_token(ADMIN)
    headers = app_key(client, import_app(client, DSL))
    who = container.accounts.authenticate_app_key(headers["Authorization"].split(" ", 1)[1])
    yield container, who
    container.close()


def test_a_finished_run_is_answered_at_once(runs_container):  # type: ignore[no-untyped-def]
    container, who = runs_container
    ticket = container.runs.submit(who, {"x": "a"}, "u1", "blocking")  # Huey immediate: done on return
    started = time.monotonic()
    data = container.runs.wait_finished(ticket.run_id, timeout=10)
    assert time.monotonic() - started < 1.0
    assert data["status"] == "succeeded" and data["outputs"] == {"out": "got a"}
    assert data["id"] == ticket.run_id


def test_a_stopped_queued_run_is_answered_stopped(runs_container):  # type: ignore[no-untyped-def]
    container, who = runs_container
    container.huey.immediate = False  # the run stays queued: no worker consumes here
    ticket = container.runs.submit(who, {"x": "a"}, "u1", "blocking")
    container.runs.stop(who, ticket.task_id, "u1")
    data = container.runs.wait_finished(ticket.run_id, timeout=10)
    assert data["status"] == "stopped"


def test_a_finish_missing_from_the_log_is_answered_from_the_row(runs_container, monkeypatch):  # type: ignore[no-untyped-def]
    """A run whose `workflow_finished` never reached `wait_final` (lost in an outage, or written by an older
    worker): after FINAL_CHECK_SECONDS of silence the final row answers, not the timeout."""
    container, who = runs_container
    container.huey.immediate = False
    ticket = container.runs.submit(who, {"x": "a"}, "u1", "blocking")
    container.runs.stop(who, ticket.task_id, "u1")
    # Hide the log's finish from wait_final, as if it had been lost.
    monkeypatch.setattr(container.events, "wait_final", lambda run_id, timeout: time.sleep(timeout))
    monkeypatch.setattr(runs_module, "FINAL_CHECK_SECONDS", 0.2)
    monkeypatch.setattr(runs_module, "FINAL_GRACE_SECONDS", 0.05)
    started = time.monotonic()
    data = container.runs.wait_finished(ticket.run_id, timeout=20)
    assert data["status"] == "stopped"
    assert time.monotonic() - started < 2.0


def test_follow_batches_are_follow_in_the_reads_of_the_log(runs_container):  # type: ignore[no-untyped-def]
    container, who = runs_container
    ticket = container.runs.submit(who, {"x": "a"}, "u1", "streaming")
    batches = list(container.runs.follow_batches(ticket.run_id, timeout=10, heartbeat=5))
    events = list(container.runs.follow(ticket.run_id, timeout=10, heartbeat=5))
    assert all(batches) and [payload for batch in batches for payload in batch] == events
    assert events[-1]["event"] == "workflow_finished" and events[0]["event"] == "workflow_started"
    assert len(batches) < len(events)  # the run's quick nodes were written, and so read, together
