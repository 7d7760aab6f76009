"""The Dify-compatible chatflow endpoints, through Flask's test client and, for Dify's own Python SDK, a real
HTTP server (werkzeug) in a thread. Embedded backends; Huey in immediate mode runs each turn in the worker
code path at enqueue."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import yaml
from werkzeug.serving import make_server

from app.services.chat import ChatRequest
from tests.app.api.test_service_workflows import sse_events
from tests.conftest import SAMPLES, fixture_dsl

CHATFLOW = fixture_dsl("chatflow.yml")
HELLO = (SAMPLES / "hello.yml").read_text()
BLOCKING_KEYS = {"event", "task_id", "id", "message_id", "conversation_id", "mode", "answer", "metadata",
                 "created_at"}


def chat(client, headers, query, conversation_id=None, mode="blocking", user="alice"):
    body = {"inputs": {}, "query": query, "user": user, "response_mode": mode}
    if conversation_id:
        body["conversation_id"] = conversation_id
    return client.post("/v1/chat-messages", headers=headers, json=body)


def test_blocking_chat_returns_difys_shape(client, app_with_key):
    headers = app_with_key(CHATFLOW)
    response = chat(client, headers, "What is Trellis?")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == BLOCKING_KEYS
    assert body["event"] == "message" and body["mode"] == "advanced-chat"
    assert body["answer"] == "Echo: What is Trellis?"
    assert body["id"] == body["message_id"] and body["task_id"] and body["conversation_id"]
    usage = body["metadata"]["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert usage["currency"] == "USD" and isinstance(body["created_at"], int)


def test_streaming_chat_emits_dify_chatflow_events(client, app_with_key):
    headers = app_with_key(CHATFLOW)
    response = chat(client, headers, "tell me a joke", mode="streaming")
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    events = sse_events(response.data)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "workflow_started" and kinds[-2:] == ["workflow_finished", "message_end"]
    assert kinds.count("node_started") == kinds.count("node_finished") == 3
    messages = [e for e in events if e["event"] == "message"]
    assert "".join(e["answer"] for e in messages) == "Echo: tell me a joke" and len(messages) > 1
    # The answer streams while the LLM node runs, not after it.
    llm_done = next(i for i, e in enumerate(events) if e["event"] == "node_finished"
                    and e["data"]["node_type"] == "llm")
    assert kinds.index("message") < llm_done
    first = events[0]
    assert all(e["conversation_id"] == first["conversation_id"] and e["message_id"] == first["message_id"]
               and e["task_id"] == first["task_id"] for e in events)
    assert all(e["id"] == e["message_id"] for e in messages)
    end = events[-1]
    assert end["metadata"]["usage"]["total_tokens"] == events[-2]["data"]["total_tokens"] > 0
    assert events[-2]["data"]["status"] == "succeeded"
    assert events[-2]["data"]["outputs"] == {"answer": "Echo: tell me a joke"}


def test_multi_turn_conversation_sends_history_to_the_llm(client, app_with_key, llm_server):
    headers = app_with_key(CHATFLOW)
    first = chat(client, headers, "My name is Ada.").get_json()
    llm_server.script(lambda request: f"I see {len(request['messages'])} messages")
    second = chat(client, headers, "What is my name?", first["conversation_id"]).get_json()
    assert second["conversation_id"] == first["conversation_id"]
    sent = llm_server.chat_requests()[-1]["messages"]
    assert sent[-3:] == [{"role": "user", "content": "My name is Ada."},
                         {"role": "assistant", "content": "Echo: My name is Ada."},
                         {"role": "user", "content": "What is my name?"}]
    assert second["answer"] == f"I see {len(sent)} messages"
    fresh = chat(client, headers, "Who am I?").get_json()
    assert fresh["conversation_id"] != first["conversation_id"]
    assert llm_server.chat_requests()[-1]["messages"][1:] == [{"role": "user", "content": "Who am I?"}]


def test_mode_and_request_errors(client, app_with_key):
    chat_headers, workflow_headers = app_with_key(CHATFLOW), app_with_key(HELLO)
    wrong = chat(client, workflow_headers, "hi")
    assert wrong.status_code == 400 and wrong.get_json()["code"] == "not_chat_app"
    run = client.post("/v1/workflows/run", headers=chat_headers,
                      json={"inputs": {}, "user": "u", "response_mode": "blocking"})
    assert run.status_code == 400 and run.get_json()["code"] == "not_workflow_app"
    no_query = client.post("/v1/chat-messages", headers=chat_headers, json={"inputs": {}, "user": "u"})
    assert no_query.status_code == 400 and no_query.get_json()["params"] == "query"
    unknown = chat(client, chat_headers, "hi", conversation_id="00000000-0000-0000-0000-000000000000")
    assert unknown.status_code == 404 and unknown.get_json()["message"] == "Conversation Not Exists."


def test_conversation_endpoints(client, app_with_key):
    headers = app_with_key(CHATFLOW)
    other = app_with_key(CHATFLOW)
    cid = chat(client, headers, "first").get_json()["conversation_id"]
    chat(client, headers, "second", cid)

    listing = client.get("/v1/conversations?user=alice&limit=10", headers=headers).get_json()
    assert listing["has_more"] is False and [c["id"] for c in listing["data"]] == [cid]
    assert set(listing["data"][0]) >= {"id", "name", "inputs", "status", "introduction", "created_at", "updated_at"}
    assert client.get("/v1/conversations?user=bob", headers=headers).get_json()["data"] == []
    assert client.get("/v1/conversations?user=alice&sort_by=nope", headers=headers).status_code == 400

    messages = client.get(f"/v1/messages?conversation_id={cid}&user=alice", headers=headers).get_json()
    assert [(m["query"], m["answer"]) for m in messages["data"]] == [("first", "Echo: first"),
                                                                     ("second", "Echo: second")]
    assert set(messages["data"][0]) >= {"id", "conversation_id", "inputs", "query", "answer", "message_files",
                                        "feedback", "retriever_resources", "created_at"}
    suggested = client.get(f"/v1/messages/{messages['data'][0]['id']}/suggested?user=alice", headers=headers)
    assert suggested.get_json() == {"result": "success", "data": []}
    variables = client.get(f"/v1/conversations/{cid}/variables?user=alice", headers=headers).get_json()
    assert variables == {"limit": 20, "has_more": False, "data": []}

    renamed = client.post(f"/v1/conversations/{cid}/name", headers=headers, json={"name": "Chat", "user": "alice"})
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "Chat"

    for path in (f"/v1/messages?conversation_id={cid}&user=alice", f"/v1/conversations/{cid}/variables?user=alice"):
        assert client.get(path, headers=other).status_code == 404
    assert client.get(f"/v1/messages?conversation_id={cid}&user=bob", headers=headers).status_code == 404
    assert client.delete(f"/v1/conversations/{cid}", headers=other, json={"user": "alice"}).status_code == 404
    assert client.delete(f"/v1/conversations/{cid}", headers=headers, json={"user": "alice"}).status_code == 204
    assert client.get(f"/v1/messages?conversation_id={cid}&user=alice", headers=headers).status_code == 404


def test_stop_a_queued_turn_ends_the_stream(client, app_with_key, container):
    headers = app_with_key(CHATFLOW)
    who = container.accounts.authenticate_app_key(headers["Authorization"].split(" ", 1)[1])
    container.huey.immediate = False  # no consumer: the turn stays queued until stopped
    ticket = container.chats.submit(who, ChatRequest(query="wait", user="alice"))
    stop = client.post(f"/v1/chat-messages/{ticket.task_id}/stop", headers=headers, json={"user": "alice"})
    assert stop.get_json() == {"result": "success"}
    events = list(container.chats.follow(ticket, timeout=5))
    assert [e["event"] for e in events] == ["workflow_finished", "message_end"]
    assert events[0]["data"]["status"] == "stopped" and events[0]["conversation_id"] == ticket.conversation_id
    # An unknown task: Dify answers success (it only raises a stop flag), and so does Trellis.
    unknown = client.post("/v1/chat-messages/nope/stop", headers=headers, json={"user": "a"})
    assert unknown.status_code == 200 and unknown.get_json() == {"result": "success"}


@pytest.fixture
def live_server(flask_app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, flask_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    thread.join(timeout=5)


def test_difys_python_sdk_drives_a_chatflow(client, app_with_key, live_server, llm_server):
    from dify_client import Client, models

    token = app_with_key(CHATFLOW)["Authorization"].split(" ", 1)[1]
    sdk = Client(api_key=token, api_base=live_server)

    blocking = sdk.chat_messages(models.ChatRequest(query="Hello SDK", user="sdk-user",
                                                    response_mode=models.ResponseMode.BLOCKING))
    assert blocking.answer == "Echo: Hello SDK" and blocking.mode == "advanced-chat"
    conversation_id = client.get("/v1/conversations?user=sdk-user",
                                 headers={"Authorization": f"Bearer {token}"}).get_json()["data"][0]["id"]

    events = list(sdk.chat_messages(models.ChatRequest(query="And again", user="sdk-user",
                                                       response_mode=models.ResponseMode.STREAMING,
                                                       conversation_id=conversation_id)))
    assert "".join(e.answer for e in events if str(e.event) == "message") == "Echo: And again"
    assert str(events[-1].event) == "message_end" and events[-1].conversation_id == conversation_id
    assert {"role": "assistant", "content": "Echo: Hello SDK"} in llm_server.chat_requests()[-1]["messages"]
    feedback = sdk.feedback_messages(blocking.message_id, models.FeedbackRequest(rating=models.Rating.LIKE,
                                                                                 user="sdk-user"))
    assert feedback.result == "success"


def test_dsl_with_edited_memory_window_is_accepted(app_with_key):
    doc = yaml.safe_load(CHATFLOW)
    doc["workflow"]["graph"]["nodes"][1]["data"]["memory"]["window"] = {"enabled": True, "size": "3"}
    app_with_key(yaml.safe_dump(doc))
