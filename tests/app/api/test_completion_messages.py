"""`POST /v1/completion-messages` (+ stop) for `completion` apps imported from a self-written DSL: Dify's blocking
body, its `message`/`message_end` stream without workflow events, input validation, mode checks, stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app.services.chat import ChatRequest
from tests.app.api.test_service_workflows import sse_events

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "dsl"
COMPLETION = (FIXTURES / "completion_app.yml").read_text()
CHAT = (FIXTURES / "chat_app.yml").read_text()
BLOCKING_KEYS = {"event", "task_id", "id", "message_id", "mode", "answer", "metadata", "created_at"}


def complete(client, headers, inputs, mode="blocking", user="alice"):
    return client.post("/v1/completion-messages", headers=headers,
                       json={"inputs": inputs, "response_mode": mode, "user": user})


def test_blocking_completion_returns_difys_shape(client, app_with_key, llm_server):
    headers = app_with_key(COMPLETION)
    response = complete(client, headers, {"product": "green tea"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == BLOCKING_KEYS
    assert body["event"] == "message" and body["mode"] == "completion"
    # The form's default fills `tone`; the prompt is the app's pre_prompt with the inputs.
    assert body["answer"] == "Echo: Write a slogan for green tea in a cheerful tone."
    assert body["id"] == body["message_id"] and body["task_id"]
    usage = body["metadata"]["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    sent = llm_server.chat_requests()[-1]
    assert sent["model"] == "gpt-4o-mini" and sent["max_tokens"] == 256


def test_streaming_completion_emits_message_events_only(client, app_with_key, llm_server):
    # Paced as a model streams: tokens that arrive in one network read are forwarded as one delta (issue 18).
    llm_server.config.tokens_per_second = 200
    headers = app_with_key(COMPLETION)
    response = complete(client, headers, {"product": "socks", "tone": "serious"}, mode="streaming")
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    events = sse_events(response.data)
    kinds = [e["event"] for e in events]
    assert set(kinds) == {"message", "message_end"} and kinds[-1] == "message_end"
    answer = "".join(e["answer"] for e in events if e["event"] == "message")
    assert answer == "Echo: Write a slogan for socks in a serious tone."
    assert kinds.count("message") > 1  # streamed, not sent whole
    first, end = events[0], events[-1]
    assert all(e["message_id"] == first["message_id"] and e["task_id"] == first["task_id"] for e in events)
    assert all("conversation_id" not in e for e in events)
    assert end["id"] == first["message_id"] and end["metadata"]["usage"]["total_tokens"] > 0


def test_inputs_are_validated_and_modes_are_checked(client, app_with_key):
    headers = app_with_key(COMPLETION)
    missing = complete(client, headers, {})
    assert missing.status_code == 400 and missing.get_json()["code"] == "invalid_param"
    assert "product" in missing.get_json()["message"]
    bad = complete(client, headers, {"product": "x", "tone": "angry"})
    assert bad.status_code == 400
    chat = client.post("/v1/chat-messages", headers=headers,
                       json={"inputs": {"product": "x"}, "query": "hi", "user": "u", "response_mode": "blocking"})
    assert chat.status_code == 400 and chat.get_json()["code"] == "not_chat_app"
    chat_headers = app_with_key(CHAT)
    wrong = complete(client, chat_headers, {})
    assert wrong.status_code == 400 and wrong.get_json()["code"] == "not_completion_app"
    assert client.post("/v1/completion-messages", headers=headers, json={"inputs": {}}).status_code == 400


def test_stop_a_queued_completion(client, app_with_key, container):
    headers = app_with_key(COMPLETION)
    who = container.accounts.authenticate_app_key(headers["Authorization"].split(" ", 1)[1])
    container.huey.immediate = False  # no consumer: the message stays queued until stopped
    ticket = container.chats.submit(who, ChatRequest(query="", user="alice", inputs={"product": "tea"}),
                                    completion=True)
    stop = client.post(f"/v1/completion-messages/{ticket.task_id}/stop", headers=headers, json={"user": "alice"})
    assert stop.status_code == 200 and stop.get_json() == {"result": "success"}
    events = list(container.chats.follow(ticket, timeout=5))
    assert [e["event"] for e in events] == ["message_end"]
    assert container.runs.load(ticket.run_id).status == "stopped"
    # Stopping a finished one is a no-op success, as in Dify.
    container.huey.immediate = True
    done = complete(client, headers, {"product": "tea"}).get_json()
    again = client.post(f"/v1/completion-messages/{done['task_id']}/stop", headers=headers, json={"user": "alice"})
    assert again.get_json() == {"result": "success"}


@pytest.fixture
def live_server(flask_app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, flask_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    thread.join(timeout=5)


def test_difys_python_sdk_drives_a_completion_app(app_with_key, live_server):
    from dify_client import Client, models

    token = app_with_key(COMPLETION)["Authorization"].split(" ", 1)[1]
    sdk = Client(api_key=token, api_base=live_server)
    blocking = sdk.completion_messages(models.CompletionRequest(
        inputs={"product": "kites"}, response_mode=models.ResponseMode.BLOCKING, user="sdk-user"))
    assert blocking.answer == "Echo: Write a slogan for kites in a cheerful tone."
    streaming = sdk.completion_messages(models.CompletionRequest(
        inputs={"product": "maps", "tone": "serious"}, response_mode=models.ResponseMode.STREAMING, user="sdk-user"))
    events = list(streaming)
    # This client hands streamed events back as plain dicts (its own parsing gap), in Dify's shapes.
    def field(event, name):
        return event.get(name) if isinstance(event, dict) else getattr(event, name, None)
    assert "".join(field(e, "answer") or "" for e in events if str(field(e, "event")).endswith("message")) == (
        "Echo: Write a slogan for maps in a serious tone.")
    assert str(field(events[-1], "event")).endswith("message_end")


def test_stop_a_running_completion_keeps_what_was_written(flask_app, app_with_key, container, llm_server):
    from sqlalchemy import select

    from app.models import WorkflowRun

    headers = app_with_key(COMPLETION)
    llm_server.script(lambda request: " ".join(f"w{i}" for i in range(60)))
    llm_server.config.tokens_per_second = 30  # two seconds of streaming
    replies: list = []
    worker = threading.Thread(target=lambda: replies.append(
        complete(flask_app.test_client(), headers, {"product": "tea"})))
    worker.start()
    task_id = None
    for _ in range(200):
        with container.sessions() as session:
            task_id = session.scalars(select(WorkflowRun.task_id).where(WorkflowRun.status == "running")).first()
        if task_id:
            break
        threading.Event().wait(0.02)
    assert task_id, "the completion never started"
    threading.Event().wait(0.3)
    stop = flask_app.test_client().post(f"/v1/completion-messages/{task_id}/stop", headers=headers,
                                        json={"user": "alice"})
    assert stop.get_json() == {"result": "success"}
    worker.join(timeout=10)
    body = replies[0].get_json()
    with container.sessions() as session:
        run = session.scalars(select(WorkflowRun).where(WorkflowRun.task_id == task_id)).one()
    assert run.status == "stopped"
    assert body["answer"].startswith("w0 w1") and len(body["answer"].split()) < 60
