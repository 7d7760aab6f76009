"""The task console: `/manage/v1/tasks` JSON (overview, runs, stuck runs, actions) and the server-rendered
pages under `/manage/console` (login, runs table, a run's node timeline, action forms)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from app.db import transaction
from app.models import WorkflowRun
from app.models.base import utcnow
from tests.conftest import ADMIN, ADMIN_HEADERS, DSL_DIR

LLM_DSL = (DSL_DIR / "langgenius_dify_basic_llm_chat_workflow.yml").read_text()


def start(client, headers, query="hi") -> dict:
    response = client.post("/v1/workflows/run", headers=headers,
                           json={"inputs": {"query": query}, "response_mode": "blocking", "user": "u"})
    return response.get_json()["data"]


def set_run(container, run_id: str, **values) -> None:
    with transaction(container.sessions) as session:
        session.execute(update(WorkflowRun).where(WorkflowRun.id == run_id).values(**values))


def test_overview_lists_and_stuck_runs(client, app_with_key, container, llm_server):
    headers = app_with_key(LLM_DSL)
    ok = start(client, headers)
    llm_server.config.fail_status = 400
    failed = start(client, headers)
    llm_server.config.fail_status = None
    stuck = start(client, headers)
    set_run(container, stuck["id"], status="running", lease_owner="dead-worker", finished_at=None,
            lease_expires_at=utcnow() - timedelta(seconds=30))

    overview = client.get("/manage/v1/tasks", headers=ADMIN_HEADERS).get_json()
    assert overview["runs_by_status"] == {"succeeded": 1, "failed": 1, "running": 1}
    assert set(overview["queue"]) >= {"pending", "scheduled", "queued_in_db", "oldest_queued_age", "wait_p50",
                                      "wait_p95"}
    assert overview["queue"]["wait_p95"] is not None
    assert [r["id"] for r in overview["stuck_runs"]] == [stuck["id"]]
    assert overview["stuck_runs"][0]["lease_owner"] == "dead-worker"
    assert [r["id"] for r in overview["recent_failures"]] == [failed["id"]]
    assert overview["last_hour"]["finished"] == 2 and overview["last_hour"]["error_rate"] == 0.5

    listed = client.get("/manage/v1/tasks/runs", headers=ADMIN_HEADERS, query_string={"status": "succeeded"})
    assert [r["id"] for r in listed.get_json()["data"]] == [ok["id"]]
    stuck_list = client.get("/manage/v1/tasks/runs", headers=ADMIN_HEADERS, query_string={"status": "stuck"})
    assert [r["id"] for r in stuck_list.get_json()["data"]] == [stuck["id"]]
    assert client.get("/manage/v1/tasks").status_code == 401


def test_retry_cancel_and_requeue(client, app_with_key, container, llm_server):
    headers = app_with_key(LLM_DSL)
    llm_server.config.fail_status = 400
    failed = start(client, headers, "retry me")
    llm_server.config.fail_status = None
    assert failed["status"] == "failed"
    calls_before = len(llm_server.chat_requests())

    retried = client.post(f"/manage/v1/tasks/runs/{failed['id']}/retry", headers=ADMIN_HEADERS)
    assert retried.status_code == 200 and retried.get_json()["status"] == "succeeded"  # immediate-mode Huey
    assert len(llm_server.chat_requests()) == calls_before + 1
    detail = client.get(f"/v1/workflows/run/{failed['id']}", headers=headers).get_json()
    assert detail["outputs"] == {"answer": "Echo: retry me"}
    again = client.post(f"/manage/v1/tasks/runs/{failed['id']}/retry", headers=ADMIN_HEADERS)
    assert again.status_code == 409 and again.get_json()["code"] == "conflict"

    queued = start(client, headers)
    set_run(container, queued["id"], status="queued", finished_at=None)
    requeued = client.post(f"/manage/v1/tasks/runs/{queued['id']}/requeue", headers=ADMIN_HEADERS).get_json()
    assert requeued["status"] == "succeeded"

    waiting = start(client, headers)
    set_run(container, waiting["id"], status="queued", finished_at=None)
    cancelled = client.post(f"/manage/v1/tasks/runs/{waiting['id']}/cancel", headers=ADMIN_HEADERS).get_json()
    assert cancelled["status"] == "stopped" and cancelled["error"] == "Run stopped by an operator"
    scratch = client.post(f"/manage/v1/tasks/runs/{waiting['id']}/retry", headers=ADMIN_HEADERS,
                          json={"from_scratch": True}).get_json()
    assert scratch["status"] == "succeeded"
    assert client.post("/manage/v1/tasks/runs/nope/cancel", headers=ADMIN_HEADERS).status_code == 404


def test_html_console_login_pages_and_actions(client, app_with_key, llm_server):
    headers = app_with_key(LLM_DSL)
    ok = start(client, headers, "show me")
    llm_server.config.fail_status = 400
    failed = start(client, headers)
    llm_server.config.fail_status = None

    page = client.get("/manage/console/")
    assert page.status_code == 200 and b'type="password"' in page.data and b"show me" not in page.data
    bad = client.post("/manage/console/login", data={"token": "wrong"})
    assert bad.status_code == 302 and "error=" in bad.headers["Location"]
    good = client.post("/manage/console/login", data={"token": ADMIN})
    cookie = good.headers["Set-Cookie"]
    assert good.status_code == 302 and "HttpOnly" in cookie and "SameSite=Strict" in cookie

    html = client.get("/manage/console/").data.decode()
    assert ok["id"][:8] in html and failed["id"][:8] in html and "Recent failures" in html
    assert "Usage this month" in html and 'lang="en"' in html
    filtered = client.get("/manage/console/", query_string={"status": "failed"}).data.decode()
    runs_section = filtered.split("<h2>Runs</h2>")[1].split("<h2>Stuck runs</h2>")[0]
    assert failed["id"][:8] in runs_section and ok["id"][:8] not in runs_section

    timeline = client.get(f"/manage/console/runs/{ok['id']}").data.decode()
    assert "Node timeline" in timeline and "llm" in timeline and "succeeded" in timeline

    foreign = client.post(f"/manage/console/runs/{failed['id']}/retry", headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    action = client.post(f"/manage/console/runs/{failed['id']}/retry", data={"next": "https://evil.example/"})
    assert action.status_code == 302 and action.headers["Location"].endswith("/manage/console/")
    assert client.get(f"/v1/workflows/run/{failed['id']}", headers=headers).get_json()["status"] == "succeeded"
    refused = client.post(f"/manage/console/runs/{failed['id']}/retry")
    assert refused.status_code == 409 and b"Only failed or stopped" in refused.data

    client.post("/manage/console/logout")
    assert b'type="password"' in client.get("/manage/console/").data
    # Scripts may use the header instead of the cookie.
    assert b"Node timeline" in client.get(f"/manage/console/runs/{ok['id']}", headers=ADMIN_HEADERS).data
