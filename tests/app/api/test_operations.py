"""Queue actions of the task console through the management API: pause and resume a queue (runs stay queued,
then finish), revoke a queued run (its message then does nothing), purge a workspace's queued runs, and the
worker list; admin token required and every action audited."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from app import create_app
from app.db import transaction
from app.metrics import exposition
from app.models import NodeExecution, WorkerProcess, WorkflowRun
from app.models.base import utcnow
from app.rag.splitting import ProcessRule
from app.services.accounts import AppPrincipal
from tests.conftest import ADMIN, ADMIN_HEADERS, SAMPLES, build_test_container


def submit(container, app_id: str, name: str = "Ada") -> str:
    workspace = container.accounts.default_workspace_id()
    who = AppPrincipal(workspace, app_id, "k")
    return container.runs.submit(who, {"name": name}, "u", "streaming").run_id


def hello_app(container) -> str:
    workspace = container.accounts.default_workspace_id()
    return container.apps.import_dsl(workspace, (SAMPLES / "hello.yml").read_text()).id


def audit_of(client, endpoint: str) -> list[dict]:
    response = client.get("/manage/v1/audit", headers=ADMIN_HEADERS, query_string={"endpoint": endpoint})
    return response.get_json()["data"]


def test_pause_keeps_runs_queued_and_resume_finishes_them(client, container):
    app_id = hello_app(container)
    assert client.post("/manage/v1/tasks/queues/runs/pause").status_code == 401
    paused = client.post("/manage/v1/tasks/queues/runs/pause", headers=ADMIN_HEADERS)
    assert paused.status_code == 200 and paused.get_json()["paused"] is True
    # Huey runs in immediate mode: the worker task executes at enqueue and must start nothing.
    run_ids = [submit(container, app_id, n) for n in ("Ada", "Grace")]
    for run_id in run_ids:
        run = container.runs.load(run_id)
        assert run.status == "queued" and run.attempts == 0
    overview = client.get("/manage/v1/tasks", headers=ADMIN_HEADERS).get_json()
    assert overview["paused"]["runs"]["paused"] is True and overview["paused"]["indexing"]["paused"] is False
    assert overview["runs_by_status"]["queued"] == 2
    # The scrape-time gauge the alert rules use to stay quiet about a queue paused on purpose.
    scraped = exposition(container.ops.console.probe).decode()
    assert 'trellis_queue_paused{queue="runs"} 1.0' in scraped
    assert 'trellis_queue_paused{queue="indexing"} 0.0' in scraped
    # Pausing twice is harmless; the first pause's time and author stay.
    again = client.post("/manage/v1/tasks/queues/runs/pause", headers=ADMIN_HEADERS).get_json()
    assert again["paused_at"] == paused.get_json()["paused_at"] and again["paused_by"]

    resumed = client.post("/manage/v1/tasks/queues/runs/resume", headers=ADMIN_HEADERS)
    assert resumed.status_code == 200 and resumed.get_json() | {"paused_at": 0} == {
        "queue": "runs", "paused": False, "paused_at": 0, "paused_by": None, "requeued": 2}
    assert [container.runs.load(r).status for r in run_ids] == ["succeeded", "succeeded"]
    assert client.get("/manage/v1/tasks", headers=ADMIN_HEADERS).get_json()["paused"]["runs"]["paused"] is False
    assert 'trellis_queue_paused{queue="runs"} 0.0' in exposition(container.ops.console.probe).decode()

    bad = client.post("/manage/v1/tasks/queues/emails/pause", headers=ADMIN_HEADERS)
    assert bad.status_code == 400 and bad.get_json()["code"] == "invalid_param"
    records = audit_of(client, "/manage/v1/tasks/queues/<queue>/pause")
    assert {r["actor_type"] for r in records} == {"admin_token"}  # the refused call has no workspace to list in
    assert sorted(r["status"] for r in records) == [200, 200, 400]


def test_paused_indexing_leaves_documents_waiting_until_resumed(client, container):
    kb = container.knowledge
    workspace = container.accounts.default_workspace_id()
    dataset = kb.datasets.create(workspace, {"name": "kb", "indexing_technique": "high_quality"})["id"]
    client.post("/manage/v1/tasks/queues/indexing/pause", headers=ADMIN_HEADERS)
    stored = kb.documents.store_text(workspace, "policy", "Refunds after five days.")
    document = kb.documents.create(workspace, dataset, "policy", stored, ProcessRule(), {})["document"]["id"]
    assert kb.documents.get(workspace, dataset, document)["indexing_status"] == "waiting"
    resumed = client.post("/manage/v1/tasks/queues/indexing/resume", headers=ADMIN_HEADERS).get_json()
    assert resumed["requeued"] == 1
    assert kb.documents.get(workspace, dataset, document)["indexing_status"] == "completed"


def test_cancel_revokes_a_queued_run_and_its_message_does_nothing(client, container):
    container.huey.immediate = False  # no consumer: the message waits in the queue
    run_id = submit(container, hello_app(container))
    assert container.huey.pending_count() == 1
    cancelled = client.post(f"/manage/v1/tasks/runs/{run_id}/cancel", headers=ADMIN_HEADERS).get_json()
    assert cancelled["status"] == "stopped"
    container.huey.execute(container.huey.dequeue())  # what a worker does with the message
    run = container.runs.load(run_id)
    assert run.status == "stopped" and run.attempts == 0
    with container.sessions() as session:
        assert session.scalar(select(func.count()).where(NodeExecution.run_id == run_id)) == 0


def test_purge_stops_the_workspaces_queued_runs_only(client, container):
    container.huey.immediate = False
    app_a, app_b = hello_app(container), hello_app(container)
    queued_a = [submit(container, app_a) for _ in range(2)]
    queued_b = submit(container, app_b)
    running = submit(container, app_a)
    with transaction(container.sessions) as session:
        session.execute(update(WorkflowRun).where(WorkflowRun.id == running).values(status="running"))
    assert client.post("/manage/v1/tasks/queues/runs/purge").status_code == 401
    only_b = client.post("/manage/v1/tasks/queues/runs/purge", headers=ADMIN_HEADERS, json={"app_id": app_b})
    assert only_b.status_code == 200 and only_b.get_json() == {"purged": 1, "ids": [queued_b]}
    rest = client.post("/manage/v1/tasks/queues/runs/purge", headers=ADMIN_HEADERS).get_json()
    assert rest["purged"] == 2 and sorted(rest["ids"]) == sorted(queued_a)
    for run_id in [*queued_a, queued_b]:
        run = container.runs.load(run_id)
        assert run.status == "stopped" and run.error == "Run purged from the queue by an operator"
    assert container.runs.load(running).status == "running"
    # Blocking callers and streams waiting on a purged run hear that it finished.
    assert container.events.read(queued_b, None, 0.1)[-1][1]["event"] == "workflow_finished"
    bad = client.post("/manage/v1/tasks/queues/indexing/purge", headers=ADMIN_HEADERS)
    assert bad.status_code == 400
    assert client.post("/manage/v1/tasks/queues/runs/purge", headers=ADMIN_HEADERS, json={"app_id": 3}).status_code \
        == 400
    assert [r["status"] for r in audit_of(client, "/manage/v1/tasks/queues/<queue>/purge")].count(200) == 2


def test_worker_list_shows_heartbeats_and_stale_workers(client, container):
    workers = container.ops.workers
    workers.beat("host-a:101:aaaaaa", threads=16, busy=2)
    workers.beat("host-b:202:bbbbbb", threads=8, busy=0)
    workers.beat("host-a:101:aaaaaa", threads=16, busy=3)
    with transaction(container.sessions) as session:  # host-b stopped beating a minute ago
        session.execute(update(WorkerProcess).where(WorkerProcess.id == "host-b:202:bbbbbb")
                        .values(last_heartbeat_at=utcnow() - timedelta(seconds=60)))
    assert client.get("/manage/v1/tasks/workers").status_code == 401
    listed = client.get("/manage/v1/tasks/workers", headers=ADMIN_HEADERS).get_json()["data"]
    assert [(w["id"], w["busy"], w["alive"]) for w in listed] == [("host-a:101:aaaaaa", 3, True),
                                                                 ("host-b:202:bbbbbb", 0, False)]
    assert listed[0]["threads"] == 16 and listed[0]["heartbeat_age"] < 5 and listed[1]["heartbeat_age"] >= 60
    assert [w["id"] for w in client.get("/manage/v1/tasks", headers=ADMIN_HEADERS).get_json()["workers"]] == [
        "host-a:101:aaaaaa", "host-b:202:bbbbbb"]
    workers.leave("host-a:101:aaaaaa")
    assert [w["id"] for w in workers.list()] == ["host-b:202:bbbbbb"]


def test_queue_actions_and_workers_on_postgres(make_settings, postgres_url):
    container = build_test_container(make_settings(database_url=postgres_url))
    container.accounts.ensure_admin_token(ADMIN)
    client = create_app(container.settings, container).test_client()
    try:
        assert container.engine.dialect.name == "postgresql"  # migration 0006 applied there too
        app_id = hello_app(container)
        client.post("/manage/v1/tasks/queues/runs/pause", headers=ADMIN_HEADERS)
        waiting, purged = submit(container, app_id), submit(container, app_id, "Bob")
        assert client.post("/manage/v1/tasks/runs/" + purged + "/cancel", headers=ADMIN_HEADERS).status_code == 200
        resumed = client.post("/manage/v1/tasks/queues/runs/resume", headers=ADMIN_HEADERS).get_json()
        assert resumed["requeued"] == 1 and container.runs.load(waiting).status == "succeeded"
        client.post("/manage/v1/tasks/queues/runs/pause", headers=ADMIN_HEADERS)
        third = submit(container, app_id, "Cy")
        assert client.post("/manage/v1/tasks/queues/runs/purge", headers=ADMIN_HEADERS).get_json()["ids"] == [third]
        container.ops.workers.beat("pg-host:1:aaaaaa", threads=2, busy=0)
        container.ops.workers.beat("pg-host:1:aaaaaa", threads=2, busy=1)
        listed = client.get("/manage/v1/tasks/workers", headers=ADMIN_HEADERS).get_json()["data"]
        assert [(w["id"], w["busy"], w["alive"]) for w in listed] == [("pg-host:1:aaaaaa", 1, True)]
    finally:
        container.close()

