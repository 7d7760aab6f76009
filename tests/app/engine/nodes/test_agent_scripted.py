"""`agent` run directly against a scripted model: the exact requests, rounds, token totals and agent_log events of
each strategy, the iteration cap, parameters, MCP servers, memory, files and stop requests (the same node over
the real OpenAI gateway and the local stub server is in test_agent.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from app.engine.dsl import NodeSpec
from app.engine.events import AgentLog
from app.engine.nodes.agent import AgentNode
from app.engine.nodes.base import NodeContext, NodeResult
from app.engine.ports import ChatMessage, ChatTurn, LLMRequest, LLMResult, LLMUsage, NodeServices, ToolResult
from app.engine.ports import ToolCall as ModelToolCall
from app.engine.variables import VariablePool
from app.errors import RunStopped, WorkflowError
from tests.app.engine.nodes.test_agent import MODEL, WEATHER_TOOL
from tests.app.engine.tool_runtime import MemoryCatalog, MemoryTools, broken, weather


class ScriptedModel:
    """Answers each call with the next scripted result (the last one repeats), its text streamed as one delta;
    `after` runs once the call returned (a user pressing stop meanwhile)."""

    def __init__(self, *replies: LLMResult, after: Callable[[], None] = lambda: None) -> None:
        self.replies, self.after = list(replies), after
        self.requests: list[LLMRequest] = []

    def complete(self, request: LLMRequest, on_delta: Callable[[str], None]) -> LLMResult:
        self.requests.append(request)
        result = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        on_delta(result.text)
        self.after()
        return result


def reply(text: str = "", *calls: tuple[str, str], usage: tuple[int, int] = (0, 0)) -> LLMResult:
    return LLMResult(text=text, usage=LLMUsage(*usage), tool_calls=tuple(
        ModelToolCall(f"call-{name}-{i}", name, arguments) for i, (name, arguments) in enumerate(calls)))


@dataclass
class Direct:
    node: AgentNode
    ctx: NodeContext
    chunks: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    logs: list[AgentLog] = field(default_factory=list)

    def run(self) -> NodeResult:
        return self.node.run(self.ctx)


def direct(llm: ScriptedModel, strategy: str = "function_calling", tools: Any = None, provider: str = "",
           services: NodeServices | None = None, memory: dict[str, Any] | None = None,
           stop: Callable[[], bool] = lambda: False, **params: Any) -> Direct:
    parameters = {"model": MODEL, "instruction": "You help with the weather.", "query": "{{#start.q#}}",
                  "tools": [WEATHER_TOOL] if tools is None else tools, **params}
    spec = NodeSpec.model_validate({"id": "agent", "data": {
        "type": "agent", "title": "Agent", "agent_strategy_provider_name": provider, "agent_strategy_name": strategy,
        "memory": memory, "agent_parameters": {k: v if isinstance(v, dict) and set(v) == {"type", "value"} else
                                               {"type": "constant", "value": v} for k, v in parameters.items()}}})
    pool = VariablePool()
    pool.set("start", "q", "Weather in Oslo?")
    found = Direct(AgentNode(spec), NodeContext(pool=pool, llm=llm, emit_chunk=lambda *a: None, should_stop=stop,
                                                services=services or NodeServices(tools=MemoryTools()),
                                                workspace_id="ws-1"))
    found.ctx.emit_chunk = lambda text, selector: found.chunks.append((text, selector))
    found.ctx.emit_log = found.logs.append
    return found


def test_function_calling_sends_the_calls_results_back_and_sums_every_call():
    model = ScriptedModel(reply("Checking. ", ("get_weather", '{"city": "Oslo"}'),
                                ("get_weather", '{"city": "Rome", "units": "imperial"}'), usage=(10, 5)),
                          reply("Sunny in both.", usage=(20, 7)))
    tools = MemoryTools()
    agent = direct(model, services=NodeServices(tools=tools), model=dict(MODEL, completion_params={
        "temperature": 0.2, "stop": ["END"], "response_format": {"type": "json"}}))
    result = agent.run()
    assert result.outputs["text"] == "Checking. Sunny in both."
    assert agent.chunks == [("Checking. ", ("agent", "text")), ("Sunny in both.", ("agent", "text"))]
    assert result.outputs["usage"] == {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42}
    assert result.total_tokens == 42
    assert result.metadata == {"total_tokens": 42, "prompt_tokens": 30, "completion_tokens": 12, "llm_calls": 2}
    # Both calls run, the node's fixed setting added; each result goes back as the `tool` turn of its call.
    assert [c[2] for c in tools.calls] == [{"city": "Oslo", "units": "metric"}, {"city": "Rome", "units": "metric"}]
    assert {c[0] for c in tools.calls} == {"ws-1"}  # the run's workspace
    assert len({log.id for log in agent.logs if log.label == "CALL get_weather"}) == 2
    first, second = model.requests
    assert (first.provider, first.model, first.mode, first.tool_choice) == (
        "langgenius/openai/openai", "gpt-4o-mini", "chat", "auto")
    assert first.params == {"temperature": 0.2, "stop": ["END"]}  # only what the gateway passes on
    assert [f["function"]["name"] for f in first.tools] == ["get_weather"]
    assert first.messages == (ChatMessage("system", "You help with the weather."),
                              ChatMessage("user", "Weather in Oslo?"))
    calls = (ModelToolCall("call-get_weather-0", "get_weather", '{"city": "Oslo"}'),
             ModelToolCall("call-get_weather-1", "get_weather", '{"city": "Rome", "units": "imperial"}'))
    assert second.messages[:2] == first.messages and second.messages[2] == ChatMessage("assistant", "Checking. ",
                                                                                       tool_calls=calls)
    oslo, rome = ('sunny in Oslo, 21 metric\n{"city": "Oslo", "sky": "sunny"}',
                  'sunny in Rome, 21 metric\n{"city": "Rome", "sky": "sunny"}')
    assert second.messages[3:] == (ChatMessage("tool", oslo, tool_call_id="call-get_weather-0"),
                                   ChatMessage("tool", rome, tool_call_id="call-get_weather-1"))
    assert result.outputs["json"] == [{"city": "Oslo", "sky": "sunny"}, {"city": "Rome", "sky": "sunny"}]
    assert result.outputs["files"] == []
    assert result.inputs == {"query": "Weather in Oslo?", "instruction": "You help with the weather.",
                             "tools": ["get_weather"]}
    rounds = result.process_data["rounds"]
    assert [(r["round"], r["thought"]) for r in rounds] == [(1, "Checking. "), (2, "Sunny in both.")]
    assert rounds[0]["tools"] == [
        {"tool": "get_weather", "input": {"city": "Oslo", "units": "metric"},
         "observation": 'sunny in Oslo, 21 metric\n{"city": "Oslo", "sky": "sunny"}'},
        {"tool": "get_weather", "input": {"city": "Rome", "units": "metric"},
         "observation": 'sunny in Rome, 21 metric\n{"city": "Rome", "sky": "sunny"}'}]
    assert rounds[1]["tools"] == [] and rounds[0]["id"] != rounds[1]["id"]
    assert {k: v for k, v in result.process_data.items() if k != "rounds"} == {
        "model_mode": "chat", "model_provider": "langgenius/openai/openai", "model_name": "gpt-4o-mini",
        "agent_strategy": "function_calling"}


def test_agent_logs_of_every_step():
    model = ScriptedModel(reply("Checking. ", ("get_weather", '{"city": "Oslo"}'), usage=(10, 5)),
                          reply("Sunny.", usage=(20, 7)))
    agent = direct(model)
    result = agent.run()
    steps = [(log.label, log.status) for log in agent.logs]
    assert steps == [("ROUND 1", "start"), ("gpt-4o-mini Thought", "start"), ("gpt-4o-mini Thought", "success"),
                     ("CALL get_weather", "start"), ("CALL get_weather", "success"), ("ROUND 1", "success"),
                     ("ROUND 2", "start"), ("gpt-4o-mini Thought", "start"), ("gpt-4o-mini Thought", "success"),
                     ("ROUND 2", "success")]
    assert {log.node_id for log in agent.logs} == {"agent"}
    round_1, thought, thought_done, call, call_done, round_1_done, round_2, *_ = agent.logs
    assert round_1.parent_id is None and round_1_done.parent_id is None and round_1.id == round_1_done.id
    assert round_1.data == {} and round_1_done.data == result.process_data["rounds"][0]
    assert round_2.id == result.process_data["rounds"][1]["id"] != round_1.id
    assert {thought.parent_id, call.parent_id, thought_done.parent_id, call_done.parent_id} == {round_1.id}
    assert thought.id == thought_done.id != call.id == call_done.id
    assert thought.id != agent.logs[7].id  # every step has its own id
    assert thought.data == {} and thought.metadata == {}
    assert thought_done.data == {"output": "Checking. ", "tool_calls": [
        {"id": "call-get_weather-0", "name": "get_weather", "arguments": '{"city": "Oslo"}'}]}
    assert thought_done.metadata == {"provider": "langgenius/openai/openai", "model": "gpt-4o-mini",
                                     "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    assert call.data == {"tool_name": "get_weather", "tool_input": '{"city": "Oslo"}'} and call.error is None
    assert call_done.data == {"tool_name": "get_weather", "tool_input": {"city": "Oslo", "units": "metric"},
                              "output": 'sunny in Oslo, 21 metric\n{"city": "Oslo", "sky": "sunny"}'}
    assert call_done.error is None and agent.logs[-2].metadata["total_tokens"] == 27


def test_a_failing_tool_call_is_logged_as_an_error():
    tools = MemoryTools({"weather/get_weather": ("Weather", {"type": "object", "properties": {}}, broken)})
    agent = direct(ScriptedModel(reply("", ("get_weather", "{}")), reply("Sorry.")),
                   services=NodeServices(tools=tools))
    result = agent.run()
    failed = [log for log in agent.logs if log.label == "CALL get_weather" and log.status != "start"]
    assert [(log.status, log.error) for log in failed] == [("error", "weather service answered 503")]
    assert failed[0].data["output"] == "tool invoke error: weather service answered 503"
    assert result.outputs["json"] == [] and result.outputs["text"] == "Sorry."


@pytest.mark.parametrize("wanted,rounds", [(None, 3), ("", 3), ("many", 3), ([2], 3), ("0", 1), (-4, 1),
                                           (2, 2), ("4", 4), (80, 50)])
def test_maximum_iterations(wanted: Any, rounds: int):
    params = {} if wanted is None else {"maximum_iterations": wanted}
    model = ScriptedModel(reply("again ", ("get_weather", '{"city": "Oslo"}'), usage=(1, 2)))
    tools = MemoryTools()
    result = direct(model, services=NodeServices(tools=tools), **params).run()
    assert len(model.requests) == rounds and len(tools.calls) == rounds - 1
    # The last round offers no tools, and a call the model writes anyway is not run.
    assert model.requests[-1].tools == () and model.requests[-1].tool_choice is None
    assert all(r.tools for r in model.requests[:-1])
    assert result.outputs["text"] == "again " * rounds and result.metadata["llm_calls"] == rounds
    assert result.outputs["usage"] == {"prompt_tokens": rounds, "completion_tokens": 2 * rounds,
                                       "total_tokens": 3 * rounds}


def test_react_rounds_in_plain_text():
    model = ScriptedModel(
        reply('\nThought: I need the weather\nAction: get_weather\nAction Input: {"city": "Oslo"}\n', usage=(4, 3)),
        reply("Thought: I know the final answer\nFinal Answer: Bring sunglasses.", usage=(6, 2)))
    tools = MemoryTools()
    agent = direct(model, "ReAct", services=NodeServices(tools=tools),
                   model=dict(MODEL, completion_params={"stop": ["END"], "top_p": 0.5}))
    result = agent.run()
    assert result.outputs["text"] == "Bring sunglasses."
    assert agent.chunks == [("Bring sunglasses.", ("agent", "text"))]  # the answer only, once known
    assert tools.calls[0][2] == {"city": "Oslo", "units": "metric"}
    first, second = model.requests
    assert first.tools == () and first.tool_choice is None and first.params == {"stop": ["END", "Observation:"],
                                                                                 "top_p": 0.5}
    assert first.messages[0].role == "system" and first.messages[0].content.startswith("You help with the weather.")
    assert "get_weather" in first.messages[0].content and first.messages[1:] == (
        ChatMessage("user", "Weather in Oslo?"),)
    assert second.messages[:2] == first.messages and second.messages[2:] == (
        ChatMessage("assistant", 'Thought: I need the weather\nAction: get_weather\nAction Input: {"city": "Oslo"}'),
        ChatMessage("user", 'Observation: sunny in Oslo, 21 metric\n{"city": "Oslo", "sky": "sunny"}'))
    rounds = result.process_data["rounds"]
    assert [(r["round"], r["thought"], len(r["tools"])) for r in rounds] == [
        (1, "I need the weather", 1), (2, "I know the final answer", 0)]
    assert rounds[0]["id"] != rounds[1]["id"]
    assert result.metadata == {"total_tokens": 15, "prompt_tokens": 10, "completion_tokens": 5, "llm_calls": 2}
    assert result.process_data["agent_strategy"] == "react"
    assert [(log.label, log.status) for log in agent.logs] == [
        ("ROUND 1", "start"), ("gpt-4o-mini Thought", "start"), ("gpt-4o-mini Thought", "success"),
        ("CALL get_weather", "start"), ("CALL get_weather", "success"), ("ROUND 1", "success"),
        ("ROUND 2", "start"), ("gpt-4o-mini Thought", "start"), ("gpt-4o-mini Thought", "success"),
        ("ROUND 2", "success")]
    round_1, _, thought_done, call, _, round_1_done, round_2, thought_2, _, round_2_done = agent.logs
    assert round_1.id == round_1_done.id == rounds[0]["id"] and round_2.id == round_2_done.id == rounds[1]["id"]
    assert round_1.id is not None and round_2.id is not None
    assert (round_1_done.data, round_2_done.data) == (rounds[0], rounds[1])
    assert {thought_done.parent_id, call.parent_id} == {round_1.id} and thought_2.parent_id == round_2.id


def test_react_last_round_asks_for_the_answer_and_runs_no_action():
    acting = reply('Thought: maybe more\nAction: get_weather\nAction Input: {"city": "Oslo"}')
    model = ScriptedModel(acting)
    tools = MemoryTools()
    agent = direct(model, "react", services=NodeServices(tools=tools), maximum_iterations=2,
                   model=dict(MODEL, completion_params={"stop": ["a", "b", "c", "d"]}))
    result = agent.run()
    assert len(model.requests) == 2 and len(tools.calls) == 1
    assert model.requests[0].params == {"stop": ["a", "b", "c", "d"]}  # OpenAI takes four stop sequences
    assert model.requests[-1].messages[-1] == ChatMessage("user", (
        'Observation: sunny in Oslo, 21 metric\n{"city": "Oslo", "sky": "sunny"}\n'
        "This is the last step: write your Final Answer."))
    assert result.outputs["text"] == "maybe more"  # the thought stands in for the answer
    assert result.process_data["rounds"][1]["tools"] == []


@pytest.mark.parametrize("text,answer", [("  Action: get_weather  ", "Action: get_weather"), ("", "")])
def test_react_single_round_answers_with_what_the_model_wrote(text: str, answer: str):
    model = ScriptedModel(reply(text))
    agent = direct(model, "cot", maximum_iterations=1)
    assert agent.run().outputs["text"] == answer
    assert model.requests[0].messages[-1] == ChatMessage("user", "Weather in Oslo?")  # no last-step note
    assert agent.chunks == ([("Action: get_weather", ("agent", "text"))] if answer else [])


@pytest.mark.parametrize("name,strategy", [
    ("function_calling", "function_calling"), (" Function-Calling ", "function_calling"),
    ("mcp_sse_function_calling", "function_calling"), ("functioncalling", "function_calling"),
    ("function_call", "function_calling"), ("ReAct", "react"), ("mcp_sse_ReAct", "react"), ("cot", "react"),
    ("chain-of-thought", "react")])
def test_strategy_names(name: str, strategy: str):
    result = direct(ScriptedModel(reply("Fine.")), name, tools=[]).run()
    assert result.process_data["agent_strategy"] == strategy and result.outputs["text"] == "Fine."


def test_unknown_strategy_and_missing_model_are_named():
    with pytest.raises(WorkflowError, match=r"^Agent strategy 'tree_of_thought' of plugin langgenius/agent/agent is "
                                            r"not available: the agent node runs the function_calling and ReAct"):
        direct(ScriptedModel(reply()), "tree_of_thought").run()
    with pytest.raises(WorkflowError, match="of plugin acme/agent/agent is not available"):
        direct(ScriptedModel(reply()), "tot", provider="acme/agent/agent").run()
    for model in (None, "gpt-4o", {"provider": "openai"}, {"model": ""}):
        with pytest.raises(WorkflowError, match="^Agent node agent has no model configured$"):
            direct(ScriptedModel(reply()), model=model).run()
    plain = direct(ScriptedModel(reply("ok")), tools=[], model={"model": "m1"})
    result = plain.run()
    assert result.process_data["model_provider"] == "openai" and result.process_data["model_mode"] == "chat"


def test_parameters_from_variables_templates_and_constants():
    params = {"query": {"type": "variable", "value": ["start", "n"]},
              "instruction": {"type": "mixed", "value": "Be {{#start.tone#}}."}}
    agent = direct(ScriptedModel(reply("ok")), tools=[], note="{{#start.x#}}", **params)
    agent.ctx.pool.set("start", "n", 42)
    agent.ctx.pool.set("start", "tone", "brief")
    assert agent.node.selectors() == [["start", "tone"], ["start", "n"], ["start", "x"]]
    result = agent.run()
    assert result.inputs == {"query": "42", "instruction": "Be brief.", "tools": []}
    for tools in ("not a list", None):
        untooled = direct(ScriptedModel(reply("ok")), tools=tools if tools else [])
        if tools is None:
            del untooled.node.data.agent_parameters["tools"]
        assert untooled.run().inputs["tools"] == [] and untooled.node.tool_refs() == []
    model = ScriptedModel(reply("ok"))
    missing = direct(model, tools=[], query={"type": "variable", "value": ["start", "gone"]},
                     instruction={"type": "constant", "value": None}, maximum_iterations=2)
    assert missing.run().inputs == {"query": "", "instruction": "", "tools": []}
    assert model.requests[0].messages == (ChatMessage("user", ""),)  # no empty system turn
    assert direct(ScriptedModel(reply("ok")), tools=[], query=7).run().inputs["query"] == "7"
    # Only a `variable` parameter is a selector; a constant list is text like any other constant.
    assert direct(ScriptedModel(reply("ok")), tools=[], query=["start", "q"]).run().inputs["query"] == "['start', 'q']"


def test_tool_refs_name_only_enabled_tools():
    entries = [WEATHER_TOOL, dict(WEATHER_TOOL, enabled=False, tool_name="off"), dict(WEATHER_TOOL, tool_name=""),
               "not an entry", dict(WEATHER_TOOL, provider_name="acme", type="api", tool_name="lookup")]
    agent = direct(ScriptedModel(reply()), tools=entries)
    assert [ref.label for ref in agent.node.tool_refs()] == ["builtin:weather/get_weather", "api:acme/lookup"]
    assert direct(ScriptedModel(reply()), tools={"a": WEATHER_TOOL}).node.tool_refs() == []


def test_mcp_servers_from_both_parameters():
    tools = {"a/one": ("One", {"type": "object", "properties": {}}, weather),
             "b/two": ("Two", {"type": "object", "properties": {}}, weather),
             "c/three": ("Three", {"type": "object", "properties": {}}, weather)}
    catalog = MemoryCatalog({"https://a.example/sse": ["a/one"], "https://b.example/mcp": ["b/two"],
                             "https://c.example/mcp": ["c/three"]}, tools=tools)
    config = ('{"mcpServers": {"b": {"url": "{{#start.b#}}"}, "none": {"transport": "sse"}, "bad": "x"}}')
    agent = direct(ScriptedModel(reply("ok")), tools=[], services=NodeServices(tools=catalog),
                   mcp_server=" https://a.example/sse , ", mcp_servers_config=config)
    agent.ctx.pool.set("start", "b", "https://b.example/mcp")
    assert agent.run().inputs["tools"] == ["one", "two"]
    flat = direct(ScriptedModel(reply("ok")), tools=[], services=NodeServices(tools=catalog),
                  mcp_servers_config={"c": {"url": "https://c.example/mcp"}})
    assert flat.run().inputs["tools"] == ["three"]
    blank = direct(ScriptedModel(reply("ok")), tools=[], services=NodeServices(tools=catalog), mcp_server="",
                   mcp_servers_config="  ")
    assert blank.run().inputs["tools"] == []
    with pytest.raises(WorkflowError, match="^Agent node agent: mcp_servers_config is not valid JSON$"):
        direct(ScriptedModel(reply()), tools=[], services=NodeServices(tools=catalog),
               mcp_servers_config="{url: x}").run()


def test_memory_turns_go_before_the_query():
    history = (ChatTurn("first?", "one"), ChatTurn("second?", ""), ChatTurn("third?", "three"))
    model = ScriptedModel(reply("ok"))
    direct(model, tools=[], memory={"window": {"enabled": True, "size": 2}},
           services=NodeServices(history=history)).run()
    assert [(m.role, m.content) for m in model.requests[0].messages] == [
        ("system", "You help with the weather."), ("user", "second?"), ("user", "third?"),
        ("assistant", "three"), ("user", "Weather in Oslo?")]
    react_model = ScriptedModel(reply("Final Answer: ok"))
    direct(react_model, "react", tools=[], memory={}, instruction="  ", services=NodeServices(history=history)).run()
    assert [m.content for m in react_model.requests[0].messages[1:]] == [
        "first?", "one", "second?", "third?", "three", "Weather in Oslo?"]


def test_files_made_by_tools_are_outputs():
    def chart(arguments: dict[str, Any]) -> ToolResult:
        return ToolResult(text="drawn", files=({"filename": "chart.png"},))

    tools = MemoryTools({"weather/get_weather": ("Chart", {"type": "object", "properties": {}}, chart),
                         "weather/broken": ("Broken", {"type": "object", "properties": {}}, broken)})
    model = ScriptedModel(reply("", ("broken", "{}"), ("get_weather", "{}")), reply("Here."))
    result = direct(model, tools=[WEATHER_TOOL, dict(WEATHER_TOOL, tool_name="broken")],
                    services=NodeServices(tools=tools)).run()
    assert result.outputs["files"] == [{"filename": "chart.png"}]


def test_a_stop_request_before_a_tool_call_skips_it():
    stop = {"now": False}
    tools = MemoryTools()
    model = ScriptedModel(reply("", ("get_weather", '{"city": "Oslo"}')), after=lambda: stop.update(now=True))
    agent = direct(model, services=NodeServices(tools=tools), stop=lambda: stop["now"])
    with pytest.raises(RunStopped):
        agent.run()
    assert tools.calls == [] and [(log.label, log.status) for log in agent.logs][-1] == ("CALL get_weather", "start")
    with pytest.raises(RunStopped):  # a stop while the model streams ends the call at its first delta
        direct(ScriptedModel(reply("x")), stop=lambda: True).run()


def test_react_streams_nothing_while_the_model_writes():
    model = ScriptedModel(reply("Final Answer: done"))
    agent = direct(model, "react", tools=[])
    agent.run()
    assert agent.chunks == [("done", ("agent", "text"))]


def test_react_action_without_a_tool_name_is_an_observation():
    model = ScriptedModel(reply("Thought: hmm\nAction:\nAction Input: {}"), reply("Final Answer: no tool then"))
    result = direct(model, "react").run()
    assert result.outputs["text"] == "no tool then"
    assert result.process_data["rounds"][0]["tools"] == [
        {"tool": "", "input": {}, "observation": "there is no tool named "}]
    assert model.requests[1].messages[-1].content == "Observation: there is no tool named "
