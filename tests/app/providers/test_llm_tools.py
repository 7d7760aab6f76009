"""Tool calling through the OpenAI gateway over real HTTP (the local stub server): tools and tool_choice are
sent, streamed tool-call deltas are assembled into whole calls, and tool turns go back in the wire shape."""

from __future__ import annotations

import json

import pytest

from app.engine.ports import ChatMessage, LLMRequest, ToolCall
from app.providers.llm import LLMRouter, build_openai_gateway
from bench.llm_server import Reply, StubLLMServer, tool_caller

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                   "required": ["city"]}}}


@pytest.fixture
def gateway(llm_server: StubLLMServer) -> LLMRouter:
    return LLMRouter(build_openai_gateway(llm_server.base_url, "sk-test", timeout=10))


def test_streamed_tool_call_deltas_are_assembled(gateway: LLMRouter, llm_server: StubLLMServer) -> None:
    llm_server.script(tool_caller)
    deltas: list[str] = []
    result = gateway.complete(LLMRequest(provider="openai", model="m", tools=(WEATHER,), tool_choice="auto",
                                         messages=(ChatMessage("user", "Paris"),)), deltas.append)
    assert result.finish_reason == "tool_calls"
    assert result.text == "" and deltas == []
    assert [(c.name, json.loads(c.arguments)) for c in result.tool_calls] == [
        ("get_weather", {"city": "Paris", "days": 1})]
    assert result.tool_calls[0].id == "call_0"
    assert result.usage.completion_tokens > 0
    sent = llm_server.chat_requests()[-1]
    assert sent["tools"] == [WEATHER] and sent["tool_choice"] == "auto"


def test_tool_turns_are_sent_back_in_the_wire_shape(gateway: LLMRouter, llm_server: StubLLMServer) -> None:
    llm_server.script(tool_caller)
    call = ToolCall(id="call_7", name="get_weather", arguments='{"city": "Oslo"}')
    messages = (ChatMessage("user", "Oslo?"), ChatMessage("assistant", "", tool_calls=(call,)),
                ChatMessage("tool", "sunny, 21C", tool_call_id="call_7"))
    deltas: list[str] = []
    result = gateway.complete(LLMRequest(provider="openai", model="m", messages=messages, tools=(WEATHER,)),
                              deltas.append)
    assert result.text == "Echo: sunny, 21C" and "".join(deltas) == result.text
    assert result.tool_calls == () and result.finish_reason == "stop"
    wire = llm_server.chat_requests()[-1]["messages"]
    assert wire[1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_7", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]}
    assert wire[2] == {"role": "tool", "tool_call_id": "call_7", "content": "sunny, 21C"}


def test_several_calls_and_text_in_one_answer(gateway: LLMRouter, llm_server: StubLLMServer) -> None:
    llm_server.script(lambda request: Reply(text="Let me look.", tool_calls=(
        {"id": "a", "name": "get_weather", "arguments": {"city": "Rome"}},
        {"id": "b", "name": "get_weather", "arguments": {"city": "Lima"}})))
    deltas: list[str] = []
    result = gateway.complete(LLMRequest(provider="openai", model="m", messages=(ChatMessage("user", "x"),),
                                         tools=(WEATHER,)), deltas.append)
    assert "".join(deltas) == "Let me look."
    assert [(c.id, json.loads(c.arguments)["city"]) for c in result.tool_calls] == [("a", "Rome"), ("b", "Lima")]


def test_requests_without_tools_send_no_tool_fields(gateway: LLMRouter, llm_server: StubLLMServer) -> None:
    result = gateway.complete(LLMRequest(provider="openai", model="m", messages=(ChatMessage("user", "hi"),)),
                              lambda text: None)
    assert result.text == "Echo: hi" and result.tool_calls == ()
    assert "tools" not in llm_server.chat_requests()[-1]
