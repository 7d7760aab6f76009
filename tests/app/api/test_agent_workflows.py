"""An agent node in a workflow app through `/v1/workflows/run`: `agent_log` events in the stream, the node's
tokens and price covering every model call, and the run's totals matching the metered calls."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select

from app import create_app
from app.models import LlmCall
from bench.llm_server import tool_caller
from tests.app.api.test_service_workflows import sse_events
from tests.app.engine.tool_runtime import MemoryTools
from tests.conftest import ADMIN, app_key, build_test_container, import_app

PRICING = '{"currency": "USD", "models": {"openai/gpt-4o-mini": {"prompt": 1000, "completion": 2000}}}'
MODEL = {"provider": "langgenius/openai/openai", "model": "gpt-4o-mini", "mode": "chat", "completion_params": {},
         "model_type": "llm", "type": "model-selector"}
TOOL = {"enabled": True, "provider_name": "weather", "tool_name": "get_weather", "type": "builtin",
        "parameters": {"city": {"auto": 1, "value": None}}, "settings": {"units": {"value": "metric"}}}
DSL = {
    "app": {"name": "agent workflow", "mode": "workflow"}, "kind": "app", "version": "0.3.0",
    "workflow": {"graph": {"nodes": [
        {"id": "start", "data": {"type": "start", "title": "Start", "variables": [
            {"variable": "city", "label": "City", "type": "text-input", "required": True}]}},
        {"id": "agent", "data": {"type": "agent", "title": "Agent", "agent_strategy_name": "function_calling",
                                 "agent_strategy_provider_name": "langgenius/agent/agent", "agent_parameters": {
                                     "model": {"type": "constant", "value": MODEL},
                                     "query": {"type": "constant", "value": "{{#start.city#}}"},
                                     "tools": {"type": "constant", "value": [TOOL]},
                                     "maximum_iterations": {"type": "constant", "value": 3}}}},
        {"id": "end", "data": {"type": "end", "title": "End", "outputs": [
            {"variable": "text", "value_selector": ["agent", "text"]}]}}],
        "edges": [{"id": "e1", "source": "start", "target": "agent"},
                  {"id": "e2", "source": "agent", "target": "end"}]}},
}


@pytest.fixture
def priced(make_settings) -> Iterator[tuple]:
    container = build_test_container(make_settings(pricing=PRICING))
    container.accounts.ensure_admin_token(ADMIN)
    container.node_services.tools = MemoryTools()
    client = create_app(container.settings, container).test_client()
    yield container, client
    container.close()


def test_workflow_stream_carries_agent_logs_and_priced_tokens(priced, llm_server):
    container, client = priced
    llm_server.script(tool_caller)
    headers = app_key(client, import_app(client, DSL))
    response = client.post("/v1/workflows/run", headers=headers,
                           json={"inputs": {"city": "Porto"}, "response_mode": "streaming", "user": "u"})
    events = sse_events(response.data)
    logs = [e for e in events if e["event"] == "agent_log"]
    assert logs and all(e["task_id"] == events[0]["task_id"] for e in logs)
    data = logs[-1]["data"]
    assert set(data) >= {"node_execution_id", "id", "label", "parent_id", "status", "error", "data", "metadata",
                         "node_id"}
    agent_finished = next(e for e in events if e["event"] == "node_finished" and e["data"]["node_id"] == "agent")
    assert {e["data"]["node_execution_id"] for e in logs} == {agent_finished["data"]["id"]}
    assert [(e["data"]["label"], e["data"]["status"]) for e in logs if e["data"]["status"] != "start"] == [
        ("gpt-4o-mini Thought", "success"), ("CALL get_weather", "success"), ("ROUND 1", "success"),
        ("gpt-4o-mini Thought", "success"), ("ROUND 2", "success")]
    finished = events[-1]["data"]
    assert finished["status"] == "succeeded" and finished["outputs"]["text"].startswith("Echo: sunny in Porto")

    with container.sessions() as session:
        calls = list(session.scalars(select(LlmCall).where(LlmCall.run_id == finished["id"])))
    assert len(calls) == 2
    meta = agent_finished["data"]["execution_metadata"]
    assert meta["total_tokens"] == sum(c.total_tokens for c in calls) == finished["total_tokens"]
    assert meta["prompt_tokens"] == sum(c.prompt_tokens for c in calls)
    # The node's price is that of every model call it made.
    expected = sum(Decimal(c.prompt_tokens) * 1000 + Decimal(c.completion_tokens) * 2000 for c in calls) / 10**6
    assert Decimal(meta["total_price"]) == expected > 0
    assert Decimal(finished["execution_metadata"]["total_price"]) == expected
    assert sum(c.price_nanos for c in calls) == int(expected * 10**9)


def test_chatflow_streams_agent_logs_and_the_agents_answer(client, app_with_key, container, llm_server):
    import copy

    container.node_services.tools = MemoryTools()
    llm_server.script(tool_caller)
    doc = copy.deepcopy(DSL)
    doc["app"]["mode"] = "advanced-chat"
    nodes = doc["workflow"]["graph"]["nodes"]
    nodes[0]["data"]["variables"] = []
    nodes[1]["data"]["agent_parameters"]["query"]["value"] = "{{#sys.query#}}"
    nodes[2] = {"id": "answer", "data": {"type": "answer", "title": "Answer", "answer": "{{#agent.text#}}"}}
    doc["workflow"]["graph"]["edges"][1]["target"] = "answer"
    headers = app_with_key(doc)
    response = client.post("/v1/chat-messages", headers=headers,
                           json={"inputs": {}, "query": "Cusco", "user": "u", "response_mode": "streaming"})
    events = sse_events(response.data)
    logs = [e for e in events if e["event"] == "agent_log"]
    assert logs and all(e["conversation_id"] == events[0]["conversation_id"] for e in logs)
    answer = "".join(e["answer"] for e in events if e["event"] == "message")
    assert answer.startswith("Echo: sunny in Cusco") and events[-1]["event"] == "message_end"
