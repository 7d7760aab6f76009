"""`agent`: function calling over the real OpenAI gateway and the local stub server, ReAct, max iterations,
tool errors as observations, agent_log events, and the tokens of every model call counted."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from app.engine.dsl import NodeSpec
from app.engine.events import AgentLog, TextChunk
from app.engine.nodes.agent import AgentNode
from app.engine.nodes.base import NodeContext
from app.engine.ports import ChatTurn, LLMRequest, LLMResult, NodeServices, ToolResult
from app.engine.state import NodeStatus, RunStatus
from app.engine.variables import VariablePool
from app.errors import TrellisError
from app.providers.llm import build_openai_gateway
from bench.llm_server import Reply, StubLLMServer, tool_caller
from tests.app.engine.harness import chain, end, graph, node, run, start
from tests.app.engine.tool_runtime import MemoryCatalog, MemoryTools, broken
from tests.corpus import corpus_exports, needs_corpus

MODEL = {"provider": "langgenius/openai/openai", "model": "gpt-4o-mini", "mode": "chat", "completion_params": {},
         "model_type": "llm", "type": "model-selector"}
WEATHER_TOOL = {"enabled": True, "provider_name": "weather", "tool_name": "get_weather", "type": "builtin",
                "parameters": {"city": {"auto": 1, "value": None}}, "settings": {"units": {"value": "metric"}},
                "extra": {"description": ""}}


class CountingLLM:
    """Wraps the real gateway and keeps every result, to check the node's token totals against."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.results: list[LLMResult] = []
        self.requests: list[LLMRequest] = []

    def complete(self, request: LLMRequest, on_delta: Callable[[str], None]) -> LLMResult:
        self.requests.append(request)
        result = self.inner.complete(request, on_delta)
        self.results.append(result)
        return result


@pytest.fixture
def llm(llm_server: StubLLMServer) -> CountingLLM:
    return CountingLLM(build_openai_gateway(llm_server.base_url, "sk-test", timeout=10))


def agent_graph(strategy: str = "function_calling", tools: list[dict[str, Any]] | None = None,
                memory: dict[str, Any] | None = None, **params: Any) -> Any:
    parameters = {"model": {"type": "constant", "value": MODEL},
                  "instruction": {"type": "constant", "value": "You help with the weather."},
                  "query": {"type": "constant", "value": "{{#start.q#}}"},
                  "tools": {"type": "constant", "value": [WEATHER_TOOL] if tools is None else tools},
                  **{k: {"type": "constant", "value": v} for k, v in params.items()}}
    agent = node("agent", "agent", agent_strategy_provider_name="langgenius/agent/agent",
                 agent_strategy_name=strategy, agent_parameters=parameters, memory=memory)
    return graph([start("q"), agent, end(text=["agent", "text"], json=["agent", "json"])],
                 chain("start", "agent", "end"))


def test_function_calling_over_http_calls_the_tool_and_answers(llm: CountingLLM, llm_server: StubLLMServer):
    llm_server.script(tool_caller)
    tools = MemoryTools()
    result = run(agent_graph(), {"q": "Paris"}, llm=llm, services=NodeServices(tools=tools))
    assert result.outcome.status == RunStatus.succeeded, result.outcome.error
    # The model reads the tool's text and its JSON messages.
    assert result.outcome.outputs["text"] == 'Echo: sunny in Paris, 21 metric\n{"city": "Paris", "sky": "sunny"}'
    assert result.outcome.outputs["json"] == [{"city": "Paris", "sky": "sunny"}]
    # The fixed setting is hidden from the model and added to the call.
    offered = llm_server.chat_requests()[0]["tools"][0]["function"]
    assert offered["name"] == "get_weather" and set(offered["parameters"]["properties"]) == {"city"}
    assert [(c[1].provider_id, c[2]) for c in tools.calls] == [("weather", {"city": "Paris", "units": "metric"})]
    # The model saw the tool's answer as a `tool` turn for its call.
    second = llm_server.chat_requests()[1]["messages"]
    assert second[0] == {"role": "system", "content": "You help with the weather."}
    assert second[-1]["role"] == "tool" and second[-1]["content"].startswith("sunny in Paris")
    assert second[-2]["tool_calls"][0]["function"]["name"] == "get_weather"
    # Streamed text is the output text.
    chunks = "".join(e.text for e in result.events if isinstance(e, TextChunk))
    assert chunks == result.outcome.outputs["text"]


def test_every_model_call_is_counted(llm: CountingLLM, llm_server: StubLLMServer):
    llm_server.script(tool_caller)
    result = run(agent_graph(), {"q": "Rome"}, llm=llm, services=NodeServices(tools=MemoryTools()))
    record = result.record("agent")
    assert len(llm.results) == 2
    prompt = sum(r.usage.prompt_tokens for r in llm.results)
    completion = sum(r.usage.completion_tokens for r in llm.results)
    assert llm.results[0].usage.completion_tokens > 0 and llm.results[1].usage.prompt_tokens > 0
    assert record.total_tokens == prompt + completion == result.outcome.total_tokens
    assert record.metadata["prompt_tokens"] == prompt and record.metadata["completion_tokens"] == completion
    assert record.outputs["usage"]["total_tokens"] == prompt + completion
    # Priced like an LLM node: the model is named in process_data.
    assert record.process_data["model_name"] == "gpt-4o-mini"


def test_agent_logs_nest_rounds_model_and_tool_calls(llm: CountingLLM, llm_server: StubLLMServer):
    llm_server.script(tool_caller)
    result = run(agent_graph(), {"q": "Lima"}, llm=llm, services=NodeServices(tools=MemoryTools()))
    logs = [e for e in result.events if isinstance(e, AgentLog)]
    finished = [(log.label, log.status) for log in logs if log.status != "start"]
    assert finished == [("gpt-4o-mini Thought", "success"), ("CALL get_weather", "success"),
                        ("ROUND 1", "success"), ("gpt-4o-mini Thought", "success"), ("ROUND 2", "success")]
    rounds = {log.id: log for log in logs if log.label.startswith("ROUND")}
    assert all(log.parent_id in rounds for log in logs if not log.label.startswith("ROUND"))
    execution_id = result.record("agent").execution_id
    assert {log.node_execution_id for log in logs} == {execution_id}
    call = next(log for log in logs if log.label == "CALL get_weather" and log.status == "success")
    assert call.data["tool_input"] == {"city": "Lima", "units": "metric"}
    assert result.record("agent").process_data["rounds"][0]["tools"][0]["tool"] == "get_weather"


def test_max_iterations_stops_offering_tools(llm: CountingLLM, llm_server: StubLLMServer):
    def always_call(request: dict[str, Any]) -> str | Reply:
        if request.get("tools"):
            return Reply(text="checking ", tool_calls=({"name": "get_weather", "arguments": {"city": "Oslo"}},))
        return "Giving up: it is sunny."

    llm_server.script(always_call)
    tools = MemoryTools()
    result = run(agent_graph(maximum_iterations=3), {"q": "Oslo"}, llm=llm, services=NodeServices(tools=tools))
    assert result.outcome.status == RunStatus.succeeded, result.outcome.error
    requests = llm_server.chat_requests()
    assert len(requests) == 3 and len(tools.calls) == 2
    assert "tools" in requests[1] and "tools" not in requests[2]
    assert result.outcome.outputs["text"] == "checking checking Giving up: it is sunny."


def test_react_parses_actions_and_final_answer(llm: CountingLLM, llm_server: StubLLMServer):
    def react_model(request: dict[str, Any]) -> str:
        last = request["messages"][-1]["content"]
        if last.startswith("Observation:"):
            return "Thought: I know the final answer\nFinal Answer: Bring sunglasses, it is sunny."
        return 'Thought: I need the weather\nAction: get_weather\nAction Input: {"city": "Oslo"}'

    llm_server.script(react_model)
    tools = MemoryTools()
    result = run(agent_graph("ReAct"), {"q": "Weather in Oslo?"}, llm=llm, services=NodeServices(tools=tools))
    assert result.outcome.status == RunStatus.succeeded, result.outcome.error
    assert result.outcome.outputs["text"] == "Bring sunglasses, it is sunny."
    assert tools.calls[0][2] == {"city": "Oslo", "units": "metric"}
    first = llm_server.chat_requests()[0]
    assert "tools" not in first and "Observation:" in first["stop"]
    assert "get_weather" in first["messages"][0]["content"]
    assert llm_server.chat_requests()[1]["messages"][-1]["content"].startswith("Observation: sunny in Oslo")
    assert "".join(e.text for e in result.events if isinstance(e, TextChunk)) == "Bring sunglasses, it is sunny."
    assert result.record("agent").total_tokens == sum(r.usage.total_tokens for r in llm.results)


def test_react_json_blob_action(llm: CountingLLM, llm_server: StubLLMServer):
    replies = iter(['Thought: look it up\nAction:\n```json\n{"action": "get_weather", "action_input": '
                    '{"city": "Kyiv"}}\n```', '{"action": "Final Answer", "action_input": "Cloudy."}'])
    llm_server.script(lambda request: next(replies))
    tools = MemoryTools()
    result = run(agent_graph("ReAct"), {"q": "Kyiv"}, llm=llm, services=NodeServices(tools=tools))
    assert result.outcome.outputs["text"] == "Cloudy."
    assert tools.calls[0][2]["city"] == "Kyiv"


def test_a_failing_tool_is_an_observation_not_a_failure(llm: CountingLLM, llm_server: StubLLMServer):
    llm_server.script(tool_caller)
    tools = MemoryTools({"weather/get_weather": ("Weather", {"type": "object", "properties": {
        "city": {"type": "string"}}}, broken)})
    result = run(agent_graph(), {"q": "Bern"}, llm=llm, services=NodeServices(tools=tools))
    assert result.outcome.status == RunStatus.succeeded
    assert result.outcome.outputs["text"] == "Echo: tool invoke error: weather service answered 503"
    errors = [e for e in result.events if isinstance(e, AgentLog) and e.status == "error"]
    assert errors and errors[0].error == "weather service answered 503"


def test_missing_tools_fail_the_node_naming_them(llm: CountingLLM):
    result = run(agent_graph(), {"q": "x"}, llm=llm)  # no tool runtime configured
    assert result.outcome.status == RunStatus.failed
    assert "builtin:weather/get_weather" in (result.outcome.error or "")
    missing = dict(WEATHER_TOOL, provider_name="tavily", tool_name="tavily_search")
    result = run(agent_graph(tools=[missing]), {"q": "x"}, llm=llm, services=NodeServices(tools=MemoryTools()))
    assert result.record("agent").status == NodeStatus.failed
    assert "tavily" in (result.outcome.error or "")
    assert llm.requests == []


def test_unknown_strategies_fail_with_a_clear_error(llm: CountingLLM):
    result = run(agent_graph("TOD"), {"q": "x"}, llm=llm, services=NodeServices(tools=MemoryTools()))
    assert result.outcome.status == RunStatus.failed
    assert "TOD" in (result.outcome.error or "") and "not available" in (result.outcome.error or "")


def test_mcp_agent_strategy_offers_the_servers_tools(llm: CountingLLM, llm_server: StubLLMServer):
    """The MCP agent plugins' `mcp_server`: its tools come from the runtime's catalog, next to the listed ones."""
    llm_server.script(tool_caller)
    url = "https://mcp.example/sse/secret-key-123"
    catalog = MemoryCatalog({url: ["weather/get_weather"]})
    g = agent_graph("function_calling", tools=[], mcp_server=url)
    result = run(g, {"q": "Bonn"}, llm=llm, services=NodeServices(tools=catalog))
    assert result.outcome.status == RunStatus.succeeded, result.outcome.error
    assert catalog.calls[0][1].provider_type == "mcp" and catalog.calls[0][2] == {"city": "Bonn", "units": "Bonn"}
    assert set(llm_server.chat_requests()[0]["tools"][0]["function"]["parameters"]["properties"]) == {"city", "units"}
    # Without a catalog, or for a server it does not know, the run fails naming the host, never the key.
    for services in (NodeServices(tools=MemoryTools()), NodeServices(),
                     NodeServices(tools=MemoryCatalog({}))):
        failed = run(g, {"q": "x"}, llm=llm, services=services)
        assert failed.outcome.status == RunStatus.failed
        assert "mcp.example" in (failed.outcome.error or "") or "MCP server" in (failed.outcome.error or "")
        assert "secret-key-123" not in (failed.outcome.error or "")


def test_no_tools_is_a_plain_model_call_and_memory_adds_history(llm: CountingLLM, llm_server: StubLLMServer):
    history = NodeServices(history=(ChatTurn("hi", "hey"), ChatTurn("who are you?", "a bot")))
    result = run(agent_graph(tools=[]), {"q": "hello"}, llm=llm, services=history)
    assert result.outcome.outputs["text"] == "Echo: hello"
    sent = llm_server.chat_requests()[0]
    assert "tools" not in sent and len(sent["messages"]) == 2  # no memory configured: no history
    assert result.record("agent").outputs["json"] == [] and result.record("agent").outputs["files"] == []
    result = run(agent_graph(tools=[], memory={"window": {"enabled": True, "size": 1}}), {"q": "again"}, llm=llm,
                 services=history)
    sent = llm_server.chat_requests()[1]["messages"]
    assert [m["content"] for m in sent[1:]] == ["who are you?", "a bot", "again"]


def corpus_agents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in corpus_exports("type: agent\n"):
        text = path.read_text(encoding="utf-8")
        for spec in ((yaml.safe_load(text).get("workflow") or {}).get("graph") or {}).get("nodes") or []:
            if spec.get("data", {}).get("type") == "agent":
                found.append((f"{path.stem.encode('ascii', 'ignore').decode()[-30:]}-{spec['id']}", spec))
    return found


CORPUS_AGENTS = corpus_agents()


@needs_corpus()
@pytest.mark.parametrize("name,spec", CORPUS_AGENTS, ids=[n for n, _ in CORPUS_AGENTS])
def test_corpus_agent_nodes_run_or_name_what_they_miss(name: str, spec: dict[str, Any], llm: CountingLLM):
    """Each agent node of the corpus parses; run against the echo model with no tools installed, it answers
    (no tools) or fails before any model call, naming the missing tool or the plugin strategy it needs."""
    agent = AgentNode(NodeSpec.model_validate(spec))
    pool = VariablePool()
    pool.set("sys", "query", "hello")
    ctx = NodeContext(pool=pool, llm=llm, emit_chunk=lambda text, selector: None, should_stop=lambda: False,
                      services=NodeServices(tools=MemoryTools({})))
    try:
        result = agent.run(ctx)
    except TrellisError as exc:
        assert re.search(r"not installed|not available|MCP server", exc.message), exc.message
        assert llm.requests == []
        return
    assert result.outputs["text"].startswith("Echo:") and result.total_tokens > 0


def test_secrets_are_masked_in_agent_logs(llm: CountingLLM, llm_server: StubLLMServer):
    llm_server.script(tool_caller)
    parameters = {"model": {"type": "constant", "value": MODEL},
                  "query": {"type": "constant", "value": "token {{#env.api_key#}}"},
                  "tools": {"type": "constant", "value": [WEATHER_TOOL]}}
    g = graph([start(), node("agent", "agent", agent_strategy_name="function_calling", agent_parameters=parameters),
               end(text=["agent", "text"])], chain("start", "agent", "end"),
              environment_variables=[{"name": "api_key", "value": "sk-very-secret", "value_type": "secret"}])
    result = run(g, {}, llm=llm, services=NodeServices(tools=MemoryTools()))
    assert result.outcome.status == RunStatus.succeeded, result.outcome.error
    logs = [e for e in result.events if isinstance(e, AgentLog)]
    assert any("******" in json.dumps(log.data) for log in logs)
    assert not any("sk-very-secret" in json.dumps(log.data) for log in logs)


def test_a_stop_request_ends_the_agent_between_steps(llm: CountingLLM, llm_server: StubLLMServer):
    from app.engine.ports import EnginePorts, ToolResult
    from app.engine.runner import GraphRunner

    stop = {"now": False}

    def weather_then_stop(arguments: dict[str, Any]) -> ToolResult:
        stop["now"] = True  # the user pressed stop while the tool ran
        return ToolResult(text="sunny")

    llm_server.script(tool_caller)
    tools = MemoryTools({"weather/get_weather": ("Weather", {"type": "object", "properties": {
        "city": {"type": "string"}}}, weather_then_stop)})
    events: list[Any] = []
    ports = EnginePorts(llm=llm, emit=events.append, should_stop=lambda: stop["now"],
                        services=NodeServices(tools=tools))
    outcome = GraphRunner(agent_graph(), ports).run({"q": "Riga"})
    assert outcome.status == RunStatus.stopped
    assert len(tools.calls) == 1 and len(llm.results) == 1  # the second model call was cut off
    assert not any(isinstance(e, TextChunk) and "sunny" in e.text for e in events)
