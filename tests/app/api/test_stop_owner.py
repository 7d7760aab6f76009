"""Issue 14, attack 9: with the app's key, end user B posting `/stop` for A's task must not stop A's run; only
the end user who started a run may stop it (as in Dify)."""

from __future__ import annotations

from tests.conftest import SAMPLES, fixture_dsl

HELLO = (SAMPLES / "hello.yml").read_text()


def test_another_end_user_cannot_stop_a_run(client, app_with_key, container):
    headers = app_with_key(HELLO)
    container.huey.immediate = False  # no consumer: the run stays queued, so a stop would take effect at once
    started = client.post("/v1/workflows/run", headers=headers,
                          json={"inputs": {"name": "Ada"}, "response_mode": "streaming", "user": "alice"})
    assert started.status_code == 200
    run_id = client.get("/v1/workflows/logs", headers=headers).get_json()["data"][0]["id"]
    task_id = container.runs.load(run_id).task_id
    for body in ({"user": "mallory"}, {"user": "Alice"}):
        refused = client.post(f"/v1/workflows/tasks/{task_id}/stop", headers=headers, json=body)
        assert refused.status_code == 404 and refused.get_json()["code"] == "not_found"
        assert refused.get_json()["message"] == "Task not found"  # the same answer as for an unknown task
    missing_user = client.post(f"/v1/workflows/tasks/{task_id}/stop", headers=headers, json={})
    assert missing_user.status_code == 400
    run = container.runs.load(run_id)
    assert run.status == "queued" and not run.stop_requested
    stopped = client.post(f"/v1/workflows/tasks/{task_id}/stop", headers=headers, json={"user": "alice"})
    assert stopped.get_json() == {"result": "success"}
    assert container.runs.load(run_id).status == "stopped"


def test_another_end_user_cannot_stop_a_chat_turn(client, app_with_key, container):
    from app.services.chat import ChatRequest

    headers = app_with_key(fixture_dsl("chatflow.yml"))
    who = container.accounts.authenticate_app_key(headers["Authorization"].split(" ", 1)[1])
    container.huey.immediate = False
    ticket = container.chats.submit(who, ChatRequest(query="wait", user="alice"))
    # Dify's chat stop answers success for any task id (it only raises a flag keyed by task and user), so bob
    # learns nothing, and alice's turn goes on.
    refused = client.post(f"/v1/chat-messages/{ticket.task_id}/stop", headers=headers, json={"user": "bob"})
    assert refused.status_code == 200 and refused.get_json() == {"result": "success"}
    assert container.runs.load(ticket.run_id).status == "queued"
