"""The `answer` node and chatflow answer streaming, on the real runner with an in-memory LLM port."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.engine.answer_stream import AnswerStream, forced_answers
from app.engine.dsl import WorkflowSpec
from app.engine.events import NodeFinished, TextChunk
from app.engine.graph import build_graph
from app.engine.nodes.answer import split_template
from app.engine.ports import EnginePorts, LLMRequest, LLMResult, LLMUsage
from app.engine.runner import GraphRunner
from app.engine.state import RunStatus


class WordsLLM:
    """Streams its prompt's last message back word by word (or a fixed reply) and records what it was asked."""

    def __init__(self, reply: str | None = None) -> None:
        self.reply = reply
        self.requests: list[LLMRequest] = []

    def complete(self, request: LLMRequest, on_delta: Callable[[str], None]) -> LLMResult:
        self.requests.append(request)
        text = self.reply if self.reply is not None else request.messages[-1].content
        words = text.split(" ")
        for i, word in enumerate(words):
            on_delta(word if i == 0 else " " + word)
        return LLMResult(text=text, usage=LLMUsage(3, len(words)))


def start() -> dict[str, Any]:
    return {"id": "start", "data": {"type": "start", "variables": []}}


def llm(node_id: str, text: str = "one two three") -> dict[str, Any]:
    return {"id": node_id, "data": {"type": "llm", "model": {"provider": "openai", "name": "m", "mode": "chat"},
                                    "prompt_template": [{"role": "user", "text": text}]}}


def answer(node_id: str, template: str) -> dict[str, Any]:
    return {"id": node_id, "data": {"type": "answer", "answer": template}}


def edge(source: str, target: str, handle: str = "source") -> dict[str, Any]:
    return {"source": source, "target": target, "sourceHandle": handle}


def run(nodes: list[dict[str, Any]], edges: list[dict[str, Any]], llm_port: WordsLLM | None = None,
        query: str = "hi") -> tuple[list[Any], AnswerStream, Any]:
    graph = build_graph(WorkflowSpec.model_validate({"graph": {"nodes": nodes, "edges": edges}}), "advanced-chat")
    events: list[Any] = []
    ports = EnginePorts(llm=llm_port or WordsLLM(), emit=events.append)
    runner = GraphRunner(graph, ports)
    stream = AnswerStream(graph, runner.pool, events.append)
    ports.emit = stream
    outcome = runner.run({}, {"query": query})
    assert outcome.status == RunStatus.succeeded, outcome.error
    return events, stream, runner


def chunks(events: list[Any]) -> list[str]:
    return [e.text for e in events if isinstance(e, TextChunk)]


def test_split_template_keeps_order_of_text_and_references():
    assert split_template("A {{#llm.text#}} and {{#sys.query#}}.") == [
        "A ", ("llm", "text"), " and ", ("sys", "query"), "."]
    assert split_template("{{#a.b.c#}}") == [("a", "b", "c")]
    assert split_template("") == []


def test_answer_renders_template_and_streams_llm_text_live():
    events, stream, runner = run([start(), llm("llm"), answer("answer", "Say: {{#llm.text#}}! ({{#sys.query#}})")],
                                 [edge("start", "llm"), edge("llm", "answer")])
    assert runner.pool.get(["answer", "answer"]) == "Say: one two three! (hi)"
    assert chunks(events) == ["Say: ", "one", " two", " three", "! (", "hi", ")"]
    assert stream.text == "Say: one two three! (hi)"
    # The LLM's words went out before the LLM node finished: they were streamed, not replayed at the end.
    llm_done = next(i for i, e in enumerate(events) if isinstance(e, NodeFinished) and e.record.node_id == "llm")
    assert [e.text for e in events[:llm_done] if isinstance(e, TextChunk)] == ["Say: ", "one", " two", " three"]


def test_only_the_taken_branch_answers():
    if_else = {"id": "branch", "data": {"type": "if-else", "cases": [{
        "case_id": "yes", "logical_operator": "and",
        "conditions": [{"variable_selector": ["sys", "query"], "comparison_operator": "is", "value": "yes"}]}]}}
    nodes = [start(), if_else, answer("a_yes", "YES"), answer("a_no", "NO {{#sys.query#}}")]
    edges = [edge("start", "branch"), edge("branch", "a_yes", "yes"), edge("branch", "a_no", "false")]
    assert run(nodes, edges, query="yes")[1].text == "YES"
    assert run(nodes, edges, query="nope")[1].text == "NO nope"


def test_two_answers_on_one_llm_do_not_interleave():
    nodes = [start(), llm("llm"), answer("first", "{{#llm.text#}}"), answer("second", "|again: {{#llm.text#}}")]
    events, stream, _ = run(nodes, [edge("start", "llm"), edge("llm", "first"), edge("first", "second")])
    assert stream.text == "one two three|again: one two three"
    assert chunks(events)[:3] == ["one", " two", " three"]


def test_answer_waits_for_an_llm_behind_another_llm():
    # The answer starts with llm2's text, so llm1's words cannot be streamed first; they come in order.
    nodes = [start(), llm("llm1", "alpha beta"), llm("llm2", "gamma delta"),
             answer("answer", "{{#llm2.text#}} / {{#llm1.text#}}")]
    events, stream, _ = run(nodes, [edge("start", "llm1"), edge("llm1", "llm2"), edge("llm2", "answer")])
    assert stream.text == "gamma delta / alpha beta"
    assert chunks(events) == ["gamma", " delta", " / ", "alpha beta"]


def test_llm_text_no_answer_refers_to_is_not_sent():
    nodes = [start(), llm("llm"), answer("answer", "fixed reply")]
    events, stream, _ = run(nodes, [edge("start", "llm"), edge("llm", "answer")])
    assert chunks(events) == ["fixed reply"]


def test_forced_answers_stop_at_branches():
    if_else = {"id": "branch", "data": {"type": "if-else", "cases": [{
        "case_id": "c", "logical_operator": "and",
        "conditions": [{"variable_selector": ["sys", "query"], "comparison_operator": "is", "value": "x"}]}]}}
    nodes = [start(), llm("llm"), answer("direct", "{{#llm.text#}}"), if_else, answer("later", "{{#llm.text#}}")]
    edges = [edge("start", "llm"), edge("llm", "direct"), edge("direct", "branch"), edge("branch", "later", "c")]
    graph = build_graph(WorkflowSpec.model_validate({"graph": {"nodes": nodes, "edges": edges}}), "advanced-chat")
    assert forced_answers(graph, "llm") == ["direct"]


def test_answer_selectors_to_missing_nodes_are_reported_at_import():
    nodes = [start(), answer("answer", "{{#ghost.text#}}")]
    graph = build_graph(WorkflowSpec.model_validate({"graph": {"nodes": nodes, "edges": [edge("start", "answer")]}}),
                        "advanced-chat")
    assert graph.nodes["answer"].dangling == ("ghost.text",)
    assert any("ghost" in warning for warning in graph.warnings)
