"""The Dify-compatible workflow endpoints, through Flask's test client on embedded backends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, fixture_dsl

HELLO = (SAMPLES / "hello.yml").read_text()
LLM_DSL = fixture_dsl("llm_workflow.yml")


def sse_events(body: bytes) -> list[dict]:
    frames = [f for f in body.decode().split("\n\n") if f.strip()]
    return [json.loads(f[len("data: "):]) for f in frames if f.startswith("data: ")]


def test_blocking_run_returns_difys_shape(client, app_with_key):
    headers = app_with_key(HELLO)
    response = client.post("/v1/workflows/run", headers=headers,
                           json={"inputs": {"name": "Ada Lovelace"}, "response_mode": "blocking", "user": "u1"})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"task_id", "workflow_run_id", "data"}
    data = body["data"]
    assert set(data) >= {"id", "workflow_id", "status", "outputs", "error", "elapsed_time", "total_tokens",
                         "total_steps", "created_at", "finished_at"}
    assert data["id"] == body["workflow_run_id"]
    assert data["status"] == "succeeded"
    assert data["outputs"] == {"greeting": "Hello, Ada Lovelace! Nice to meet you, Ada."}
    assert data["total_steps"] == 4  # start, if-else, template, end: the untaken branch is skipped
    assert isinstance(data["created_at"], int) and data["finished_at"] >= data["created_at"]


def test_branch_false_takes_other_end(client, app_with_key):
    headers = app_with_key(HELLO)
    body = client.post("/v1/workflows/run", headers=headers,
                       json={"inputs": {"name": "Ada"}, "response_mode": "blocking", "user": "u1"}).get_json()
    assert body["data"]["outputs"] == {"greeting": "Hello, Ada!"}


def test_streaming_run_emits_dify_events(client, app_with_key, llm_server):
    headers = app_with_key(LLM_DSL)
    response = client.post("/v1/workflows/run", headers=headers,
                           json={"inputs": {"query": "tell me a joke"}, "response_mode": "streaming", "user": "u1"})
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    events = sse_events(response.data)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "workflow_started" and kinds[-1] == "workflow_finished"
    assert kinds.count("node_started") == kinds.count("node_finished") == 3
    chunks = [e["data"]["text"] for e in events if e["event"] == "text_chunk"]
    assert "".join(chunks) == "Echo: tell me a joke"
    assert all(e["task_id"] and e["workflow_run_id"] == events[0]["workflow_run_id"] for e in events)
    finished = events[-1]["data"]
    assert finished["status"] == "succeeded"
    assert finished["outputs"] == {"answer": "Echo: tell me a joke"}
    assert finished["total_tokens"] > 0
    llm_node = next(e for e in events if e["event"] == "node_finished" and e["data"]["node_type"] == "llm")
    assert llm_node["data"]["execution_metadata"]["total_tokens"] == finished["total_tokens"]
    sent = llm_server.chat_requests()[-1]
    assert sent["model"] == "gpt-3.5-turbo"
    assert sent["messages"][0] == {"role": "system", "content": "Reply in one short paragraph."}


def test_run_without_llm_endpoint_fails_with_provider_not_initialize(make_settings, tmp_path: Path):
    from app import create_app
    from tests.conftest import ADMIN, app_key, build_test_container, import_app

    container = build_test_container(make_settings(openai_base_url=None, openai_api_key=None))
    app = create_app(container.settings, container)
    container.accounts.ensure_admin_token(ADMIN)
    client = app.test_client()
    headers = app_key(client, import_app(client, LLM_DSL))
    body = client.post("/v1/workflows/run", headers=headers,
                       json={"inputs": {"query": "hi"}, "response_mode": "blocking", "user": "u1"})
    assert body.status_code == 200  # Dify answers 200 for a failed run
    data = body.get_json()["data"]
    assert data["status"] == "failed"
    assert "OPENAI_API_KEY" in data["error"]


def test_missing_required_input_is_400_before_any_run(client, app_with_key):
    headers = app_with_key(HELLO)
    response = client.post("/v1/workflows/run", headers=headers,
                           json={"inputs": {}, "response_mode": "blocking", "user": "u1"})
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_param"
    logs = client.get("/v1/workflows/logs", headers=headers).get_json()
    assert logs["total"] == 0


def test_bad_bodies_get_dify_errors(client, app_with_key):
    headers = app_with_key(HELLO)
    malformed = client.post("/v1/workflows/run", headers={**headers, "Content-Type": "application/json"},
                            data="{not json")
    assert malformed.status_code == 400 and malformed.get_json()["code"] == "bad_request"
    no_user = client.post("/v1/workflows/run", headers=headers, json={"inputs": {}, "response_mode": "blocking"})
    assert no_user.status_code == 400 and no_user.get_json()["params"] == "user"
    bad_mode = client.post("/v1/workflows/run", headers=headers,
                           json={"inputs": {"name": "x"}, "response_mode": "sometimes", "user": "u"})
    assert bad_mode.get_json()["code"] == "invalid_param"


def test_auth_errors(client, app_with_key):
    app_with_key(HELLO)
    missing = client.post("/v1/workflows/run", json={})
    assert missing.status_code == 401
    assert missing.get_json() == {"code": "unauthorized", "status": 401,
                                  "message": "Authorization header must be provided and start with 'Bearer'"}
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/v1/info", headers={"Authorization": "Bearer app-nope"})
    assert wrong.status_code == 401 and wrong.get_json()["code"] == "unauthorized"


def test_not_found_and_method_not_allowed_are_json(client):
    assert client.get("/v1/nope").get_json()["status"] == 404
    response = client.delete("/v1/workflows/run")
    assert response.status_code == 405 and response.get_json()["code"] == "method_not_allowed"


def test_body_too_large_is_413(make_settings):
    from app import create_app
    from tests.conftest import build_test_container

    container = build_test_container(make_settings(max_request_bytes=1000))
    client = create_app(container.settings, container).test_client()
    response = client.post("/v1/workflows/run", data="x" * 5000, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.get_json()["code"] == "request_entity_too_large"


def test_run_detail_logs_and_keys_are_scoped_to_the_app(client, app_with_key):
    first = app_with_key(HELLO)
    second = app_with_key(HELLO)
    run = client.post("/v1/workflows/run", headers=first,
                      json={"inputs": {"name": "Ada"}, "response_mode": "blocking", "user": "alice"}).get_json()
    run_id = run["workflow_run_id"]
    detail = client.get(f"/v1/workflows/run/{run_id}", headers=first).get_json()
    assert detail["inputs"] == {"name": "Ada"} and detail["outputs"] == {"greeting": "Hello, Ada!"}
    assert client.get(f"/v1/workflows/run/{run_id}", headers=second).status_code == 404
    assert client.get("/v1/workflows/logs", headers=second).get_json()["total"] == 0
    stop = client.post(f"/v1/workflows/tasks/{run['task_id']}/stop", headers=second, json={"user": "alice"})
    assert stop.status_code == 404


def test_logs_paging_and_filters(client, app_with_key):
    headers = app_with_key(HELLO)
    for name, user in [("Ada", "alice"), ("Bob", "bob"), ("Cy", "alice")]:
        client.post("/v1/workflows/run", headers=headers,
                    json={"inputs": {"name": name}, "response_mode": "blocking", "user": user})
    page = client.get("/v1/workflows/logs?page=1&limit=2", headers=headers).get_json()
    assert page["total"] == 3 and page["has_more"] is True and len(page["data"]) == 2
    entry = page["data"][0]
    assert entry["workflow_run"]["status"] == "succeeded"
    assert entry["created_by_end_user"]["session_id"] in ("alice", "bob")
    alice = client.get("/v1/workflows/logs?created_by_end_user_session_id=alice", headers=headers).get_json()
    assert alice["total"] == 2
    keyword = client.get("/v1/workflows/logs?keyword=Bob", headers=headers).get_json()
    assert keyword["total"] == 1
    assert client.get("/v1/workflows/logs?status=failed", headers=headers).get_json()["total"] == 0
    assert client.get("/v1/workflows/logs?limit=1000", headers=headers).status_code == 400


def test_stop_of_finished_run_is_success(client, app_with_key):
    headers = app_with_key(HELLO)
    run = client.post("/v1/workflows/run", headers=headers,
                      json={"inputs": {"name": "Ada"}, "response_mode": "blocking", "user": "u"}).get_json()
    response = client.post(f"/v1/workflows/tasks/{run['task_id']}/stop", headers=headers, json={"user": "u"})
    assert response.get_json() == {"result": "success"}


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/plain"])
def test_a_json_body_without_the_json_content_type_is_accepted(client, app_with_key, content_type):
    """What `curl -d '{"user": "u1"}'` sends (the README's stop command): JSON labelled as a form, or unlabelled."""
    headers = app_with_key(HELLO)
    run = client.post("/v1/workflows/run", headers=headers,
                      json={"inputs": {"name": "Ada"}, "response_mode": "blocking", "user": "u"}).get_json()
    extra = {"Content-Type": content_type} if content_type else {}
    response = client.post(f"/v1/workflows/tasks/{run['task_id']}/stop", headers={**headers, **extra},
                           data='{"user": "u"}')
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"result": "success"}


def test_a_json_body_labelled_as_a_form_gets_the_same_text_checks(client, app_with_key):
    headers = {**app_with_key(HELLO), "Content-Type": "application/x-www-form-urlencoded"}
    response = client.post("/v1/workflows/tasks/t-1/stop", headers=headers, data='{"user": "a\\u0000b"}')
    assert response.status_code == 400 and response.get_json()["code"] == "invalid_param"


def test_a_body_that_is_not_json_names_the_content_type(client, app_with_key):
    headers = app_with_key(HELLO)
    response = client.post("/v1/workflows/tasks/t-1/stop", data="user=u1",
                           headers={**headers, "Content-Type": "application/x-www-form-urlencoded"})
    body = response.get_json()
    assert response.status_code == 400 and body["code"] == "bad_request"
    assert "Content-Type: application/json" in body["message"] and "application/x-www-form-urlencoded" in \
        body["message"]


def test_parameters_info_and_index(client, app_with_key):
    headers = app_with_key(HELLO)
    params = client.get("/v1/parameters", headers=headers).get_json()
    assert params["user_input_form"] == [{"text-input": {"label": "Your name", "variable": "name", "required": True,
                                                         "default": "", "max_length": 64}}]
    assert params["system_parameters"]["file_size_limit"] == 15
    info = client.get("/v1/info", headers=headers).get_json()
    assert info["name"] == "hello" and info["mode"] == "workflow"
    assert client.get("/v1/").get_json()["api_version"] == "v1"
