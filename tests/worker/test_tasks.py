"""Task bodies: a draining worker hands messages back instead of starting runs it cannot finish."""

from __future__ import annotations

from app.services.accounts import AppPrincipal
from tests.conftest import SAMPLES, build_test_container
from worker import tasks
from worker.runtime import build_runtime


def test_draining_worker_requeues_instead_of_claiming(make_settings):
    container = build_test_container(make_settings())
    container.huey.immediate = False
    workspace = container.accounts.default_workspace_id()
    app = container.apps.import_dsl(workspace, (SAMPLES / "hello.yml").read_text())
    run_id = container.runs.submit(AppPrincipal(workspace, app.id, "k"), {"name": "Ada"}, "u", "streaming").run_id
    runtime = build_runtime(container)
    pending_before = container.queue.pending()
    runtime.draining.set()
    tasks.run_workflow(runtime, run_id)
    assert container.runs.load(run_id).status == "queued" and container.runs.load(run_id).attempts == 0
    assert container.queue.pending() == pending_before + 1  # the message went back to the queue
    runtime.draining.clear()
    tasks.run_workflow(runtime, run_id)
    assert container.runs.load(run_id).status == "succeeded"
    container.close()
