"""`chat` and `agent-chat` apps (Dify's easy modes, exported with a `model_config`) through `/v1/chat-messages`:
self-written DSLs in tests/fixtures, and the corpus's real exports read by path (skipped when the corpus is
absent). Agent apps call tools through an in-memory tool runtime and the model through the real HTTP gateway."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from app.models import LlmCall, Message
from bench.llm_server import tool_caller
from tests.app.api.test_service_workflows import sse_events
from tests.app.engine.tool_runtime import MemoryTools
from tests.corpus import corpus_exports, needs_corpus

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "dsl"
CHAT = (FIXTURES / "chat_app.yml").read_text()
AGENT = (FIXTURES / "agent_chat_app.yml").read_text()
APP_MODE = re.compile(r"^  mode: (chat|agent-chat|completion)\s*$", re.M)


def chat(client, headers, query, conversation_id=None, mode="blocking", inputs=None):
    body = {"inputs": inputs or {}, "query": query, "user": "alice", "response_mode": mode}
    if conversation_id:
        body["conversation_id"] = conversation_id
    return client.post("/v1/chat-messages", headers=headers, json=body)


def test_chat_app_answers_with_its_prompt_and_memory(client, app_with_key, llm_server):
    headers = app_with_key(CHAT)
    first = chat(client, headers, "Will it rain?", inputs={"city": "Oslo"})
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert body["mode"] == "chat" and body["answer"] == "Echo: Will it rain?"
    sent = llm_server.chat_requests()[-1]
    assert sent["messages"][0] == {"role": "system",
                                   "content": "You are a weather assistant for Oslo. Keep answers short."}
    assert sent["temperature"] == 0.2 and sent["model"] == "gpt-4o-mini"
    chat(client, headers, "And tomorrow?", body["conversation_id"])
    sent = llm_server.chat_requests()[-1]["messages"]
    assert [m["content"] for m in sent[1:]] == ["Will it rain?", "Echo: Will it rain?", "And tomorrow?"]
    assert sent[0]["content"].endswith("for Oslo. Keep answers short.")  # the conversation keeps its inputs


def test_chat_app_streams_only_message_events(client, app_with_key):
    headers = app_with_key(CHAT)
    events = sse_events(chat(client, headers, "Sunny today?", mode="streaming").data)
    kinds = [e["event"] for e in events]
    assert set(kinds) == {"message", "message_end"} and kinds[-1] == "message_end"
    assert "".join(e["answer"] for e in events if e["event"] == "message") == "Echo: Sunny today?"
    assert all(e["conversation_id"] == events[0]["conversation_id"] for e in events)


def test_chat_app_parameters_come_from_model_config(client, app_with_key):
    headers = app_with_key(CHAT)
    params = client.get("/v1/parameters", headers=headers).get_json()
    assert params["opening_statement"] == "Ask me about the weather in {{city}}."
    assert params["suggested_questions"] == ["Will it rain tomorrow?"]
    assert params["user_input_form"] == [{"text-input": {"label": "City", "variable": "city", "required": False,
                                                         "default": "Paris", "max_length": 48}}]
    assert client.get("/v1/info", headers=headers).get_json()["mode"] == "chat"


def test_agent_chat_calls_tools_and_streams_agent_thoughts(client, app_with_key, container, llm_server):
    tools = container.node_services.tools = MemoryTools()
    llm_server.script(tool_caller)
    headers = app_with_key(AGENT)
    events = sse_events(chat(client, headers, "Madrid", mode="streaming").data)
    kinds = [e["event"] for e in events]
    assert set(kinds) == {"agent_thought", "agent_message", "message_end"}, kinds
    answer = "".join(e["answer"] for e in events if e["event"] == "agent_message")
    assert answer.startswith("Echo: sunny in Madrid, 21 metric")
    thoughts = [e for e in events if e["event"] == "agent_thought"]
    assert [t["position"] for t in thoughts] == [1, 2]
    assert thoughts[0]["tool"] == "get_weather"
    assert json.loads(thoughts[0]["tool_input"]) == {"city": "Madrid", "units": "metric"}
    assert thoughts[0]["observation"].startswith("sunny in Madrid")
    assert thoughts[1]["tool"] == "" and thoughts[1]["thought"] == answer
    assert tools.calls[0][2] == {"city": "Madrid", "units": "metric"}  # the app's form value is fixed
    # The model saw the instruction, and no `units` parameter to fill.
    first = llm_server.chat_requests()[0]
    assert first["messages"][0]["content"] == "You look up the weather with your tool before answering."
    assert set(first["tools"][0]["function"]["parameters"]["properties"]) == {"city"}


def test_agent_chat_usage_counts_every_model_call(client, app_with_key, container, llm_server):
    container.node_services.tools = MemoryTools()
    llm_server.script(tool_caller)
    headers = app_with_key(AGENT)
    body = chat(client, headers, "Quito").get_json()
    assert body["mode"] == "agent-chat" and body["answer"].startswith("Echo: sunny in Quito")
    with container.sessions() as session:
        run_id = session.scalars(select(Message.run_id).where(Message.id == body["message_id"])).one()
        calls = list(session.scalars(select(LlmCall).where(LlmCall.run_id == run_id)))
    assert len(calls) == 2
    usage = body["metadata"]["usage"]
    assert usage["total_tokens"] == sum(c.total_tokens for c in calls) > 0
    assert usage["prompt_tokens"] == sum(c.prompt_tokens for c in calls)
    assert container.runs.load(run_id).total_tokens == usage["total_tokens"]


def test_agent_chat_without_the_tool_fails_naming_it(client, app_with_key, container):
    container.node_services.tools = MemoryTools({})
    headers = app_with_key(AGENT)
    response = chat(client, headers, "Lima")
    assert response.status_code == 400
    assert "weather/get_weather" in response.get_json()["message"]


def corpus_files() -> list[Path]:
    return corpus_exports(APP_MODE)


@needs_corpus()
@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.stem[-40:])
def test_corpus_easy_mode_apps_import_and_run(path, client, app_with_key, container):
    """Each imports; a turn against the echo model answers, or (agent apps with tools nobody installed here)
    fails at the agent node with an error naming a missing tool."""
    container.node_services.tools = MemoryTools({})
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    headers = app_with_key(path.read_text(encoding="utf-8"))
    response = chat(client, headers, "hello there")
    tools = [t for t in doc["model_config"].get("agent_mode", {}).get("tools") or [] if t.get("enabled", True)]
    if doc["app"]["mode"] == "agent-chat" and tools:
        assert response.status_code == 400
        message = response.get_json()["message"]
        assert "not installed" in message and any(t["tool_name"] in message for t in tools)
    else:
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["answer"] == "Echo: hello there"


def test_agent_thoughts_are_kept_with_the_message(client, app_with_key, container, llm_server):
    container.node_services.tools = MemoryTools()
    llm_server.script(tool_caller)
    headers = app_with_key(AGENT)
    body = chat(client, headers, "Accra").get_json()
    listed = client.get(f"/v1/messages?conversation_id={body['conversation_id']}&user=alice", headers=headers)
    message = listed.get_json()["data"][0]
    thoughts = message["agent_thoughts"]
    assert [t["position"] for t in thoughts] == [1, 2]
    assert thoughts[0]["tool"] == "get_weather" and thoughts[0]["message_id"] == body["message_id"]
    assert json.loads(thoughts[0]["tool_input"]) == {"city": "Accra", "units": "metric"}
    assert thoughts[0]["observation"].startswith("sunny in Accra") and thoughts[1]["thought"] == body["answer"]
    assert thoughts[0]["id"] and thoughts[0]["id"] != thoughts[1]["id"]
    # A plain chat app's messages have none.
    chat_headers = app_with_key(CHAT)
    plain = chat(client, chat_headers, "hi").get_json()
    listed = client.get(f"/v1/messages?conversation_id={plain['conversation_id']}&user=alice", headers=chat_headers)
    assert listed.get_json()["data"][0]["agent_thoughts"] == []
