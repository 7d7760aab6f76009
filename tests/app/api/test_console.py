"""The task console: `/manage/v1/tasks` JSON (overview, runs, stuck runs, actions) and the server-rendered
pages under `/manage/console` (login, runs table, a run's node timeline, action forms)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from app.db import transaction
from app.models import WorkflowRun
from app.models.base import utcnow
from tests.conftest import ADMIN, ADMIN_HEADERS, fixture_dsl

LLM_DSL = fixture_dsl("llm_workflow.yml")


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
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    bad = client.post("/manage/console/login", data={"token": "wrong"})
    assert bad.status_code == 302 and "error=" in bad.headers["Location"]
    assert b"Sign-in failed" in client.get(bad.headers["Location"]).data
    assert b"injected" not in client.get("/manage/console/?error=injected").data  # fixed text, not the query's
    assert client.get("/manage/console/tasks").status_code == 302
    good = client.post("/manage/console/login", data={"token": ADMIN})
    cookie = good.headers["Set-Cookie"]
    assert good.status_code == 302 and "HttpOnly" in cookie and "SameSite=Strict" in cookie

    html = client.get("/manage/console/").data.decode()
    assert ok["id"][:8] in html and failed["id"][:8] in html and 'lang="en"' in html
    assert ">single-llm</option>" in html and "<td>single-llm</td>" in html  # apps by name
    filtered = client.get("/manage/console/", query_string={"status": "failed"}).data.decode()
    assert failed["id"][:8] in filtered and ok["id"][:8] not in filtered
    tasks = client.get("/manage/console/tasks").data.decode()
    recent = tasks.split("<h2>Recent failures</h2>")[1]
    assert failed["id"][:8] in recent and ok["id"][:8] not in recent and "Pending messages" in tasks

    usage = client.get("/manage/console/usage").data.decode()
    assert "Usage in " in usage and "<td class=\"num\">2</td>" in usage  # two finished runs of one app
    assert "No usage in 2001-02" in client.get("/manage/console/usage?month=2001-02").data.decode()
    wrong_month = client.get("/manage/console/usage?month=2001-13").data.decode()
    assert "not a month like" in wrong_month and "Usage in 2001" not in wrong_month

    timeline = client.get(f"/manage/console/runs/{ok['id']}").data.decode()
    assert "Node timeline" in timeline and "llm" in timeline and "succeeded" in timeline
    assert "LLM calls" in timeline and "gpt-3.5-turbo" in timeline
    missing = client.get("/manage/console/runs/nope")
    assert missing.status_code == 404 and b"Workflow run not found" in missing.data and b"<main>" in missing.data

    foreign = client.post(f"/manage/console/runs/{failed['id']}/retry", headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403 and b"Cross-origin" in foreign.data
    action = client.post(f"/manage/console/runs/{failed['id']}/retry", data={"next": "https://evil.example/"})
    assert action.status_code == 302
    assert action.headers["Location"] == f"/manage/console/?done=retry&run={failed['id']}"
    assert f"Queued again: run {failed['id'][:8]}." in client.get(action.headers["Location"]).data.decode()
    assert client.get(f"/v1/workflows/run/{failed['id']}", headers=headers).get_json()["status"] == "succeeded"
    refused = client.post(f"/manage/console/runs/{failed['id']}/retry")
    assert refused.status_code == 409 and b"Only failed or stopped" in refused.data
    back = client.post(f"/manage/console/runs/{ok['id']}/cancel", data={"next": "/manage/console/tasks?x=1"})
    assert back.headers["Location"] == f"/manage/console/tasks?x=1&done=cancel&run={ok['id']}"
    assert client.post(f"/manage/console/runs/{ok['id']}/explode").status_code == 404

    client.post("/manage/console/logout")
    assert b'type="password"' in client.get("/manage/console/").data
    # Scripts may use the header instead of the cookie.
    assert b"Node timeline" in client.get(f"/manage/console/runs/{ok['id']}", headers=ADMIN_HEADERS).data
