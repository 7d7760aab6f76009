"""Task bodies: a draining worker hands messages back instead of starting runs it cannot finish; a paused
queue's messages start nothing, and the reaper leaves its runs queued (not lost, not failed) until resumed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from app.db import transaction
from app.models import WorkflowRun
from app.models.base import utcnow
from app.services.accounts import AppPrincipal
from tests.conftest import SAMPLES, build_test_container
from worker import tasks
from worker.leases import Reaper
from worker.runtime import build_runtime


def _queued_run(make_settings):  # type: ignore[no-untyped-def]
    """A container whose queue is real (not immediate), one queued run of the hello sample, a worker runtime."""
    container = build_test_container(make_settings())
    container.huey.immediate = False
    workspace = container.accounts.default_workspace_id()
    app = container.apps.import_dsl(workspace, (SAMPLES / "hello.yml").read_text())
    run_id = container.runs.submit(AppPrincipal(workspace, app.id, "k"), {"name": "Ada"}, "u", "streaming").run_id
    return container, run_id, build_runtime(container)


def test_draining_worker_requeues_instead_of_claiming(make_settings):
    container, run_id, runtime = _queued_run(make_settings)
    pending_before = container.queue.pending()
    runtime.draining.set()
    tasks.run_workflow(runtime, run_id)
    assert container.runs.load(run_id).status == "queued" and container.runs.load(run_id).attempts == 0
    assert container.queue.pending() == pending_before + 1  # the message went back to the queue
    runtime.draining.clear()
    tasks.run_workflow(runtime, run_id)
    assert container.runs.load(run_id).status == "succeeded"
    container.close()


def test_paused_runs_queue_starts_nothing_and_the_reaper_leaves_its_runs(make_settings):
    container, run_id, runtime = _queued_run(make_settings)
    queues = container.ops.queues
    queues.pause("runs", actor="test")
    tasks.run_workflow(runtime, run_id)
    assert container.runs.load(run_id).status == "queued" and container.runs.load(run_id).attempts == 0
    # Long past both the lost-message threshold and the execution limit, and the queue is empty.
    with transaction(container.sessions) as session:
        old = utcnow() - timedelta(hours=2)
        session.execute(update(WorkflowRun).where(WorkflowRun.id == run_id).values(enqueued_at=old, created_at=old))
    requeued: list[str] = []
    failed: list[str] = []
    reaper = Reaper(runtime.leases, requeued.append, failed.append, interval=10, max_attempts=3, max_seconds=60,
                    requeue_after=60, pending=container.queue.pending, paused=queues.is_paused)
    assert reaper.sweep() == [] and failed == []
    assert container.runs.load(run_id).status == "queued"
    queues.resume("runs")  # sends the message again
    tasks.run_workflow(runtime, run_id)
    assert container.runs.load(run_id).status == "succeeded"
    container.close()

