"""The project's own Dify documents (tests/fixtures/dsl: DSL 0.1.0, 0.3.1) on the real GraphRunner with a tiny
scripted LLM port: each document's description states the expected result, asserted here. The older-shape
documents (0.1.0: top-level if-else conditions, providers deepseek/tongyi, dataset ids from another workspace)
must import and run every branch."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.engine.dsl import parse_dsl
from app.engine.graph import Graph, build_graph
from app.engine.ports import LLMRequest, NodeServices
from app.engine.state import NodeStatus, RunStatus
from app.providers.sandbox import ProcessSandbox
from tests.app.engine.harness import FixedRetriever, ScriptedLLM, run
from tests.conftest import fixture_dsl

OLD_DATASET = "0b7c1f2e-5a44-4c1e-9d3e-7f00a1b2c3d4"


def load(name: str) -> Graph:
    doc = parse_dsl(fixture_dsl(name))
    return build_graph(doc.workflow, doc.app.mode)


def test_llm_workflow_answers_with_the_model_text():
    llm = ScriptedLLM(lambda request: f"reply to {request.messages[-1].content}")
    result = run(load("llm_workflow.yml"), {"query": "hi"}, llm=llm)
    assert result.outcome.outputs == {"answer": "reply to hi"}
    assert llm.requests[0].model == "gpt-3.5-turbo"


@pytest.mark.parametrize(("query", "expected"), [("oh yes please", {"matched": "oh yes please"}),
                                                 ("no thanks", {"unmatched": "no thanks"})])
def test_if_else_branching(query, expected):
    assert run(load("if_else_branching.yml"), {"query": query}).outcome.outputs == expected


@pytest.mark.parametrize(("left", "right"), [(1, 0), (0, 1), (1, 1), (0, 0)])
def test_grouped_variable_aggregator(left, right):
    result = run(load("variable_aggregator_groups.yml"), {"left": left, "right": right})
    assert result.outcome.outputs == {"left": f"left is {'on' if left else 'off'}",
                                      "right": f"right is {'on' if right else 'off'}"}
    assert result.outcome.total_steps == 7  # start, 2 if-else, 2 of the 4 templates, aggregator, end
    assert len([r for r in result.runner.records.values() if r.node_type == "template-transform"]) == 2


@pytest.mark.parametrize(("switch", "expected"), [(1, {"a": "A", "b": "B", "c": None}),
                                                  (0, {"a": None, "b": "B", "c": "C"})])
def test_parallel_code_branches(switch, expected):
    result = run(load("parallel_code_branches.yml"), {"switch": switch},
                 services=NodeServices(sandbox=ProcessSandbox()))
    assert result.outcome.status == RunStatus.succeeded, result.outcome.error
    assert result.outcome.outputs == expected


def test_iteration_flatten_output():
    result = run(load("iteration_flatten.yml"), {}, services=NodeServices(sandbox=ProcessSandbox()))
    assert result.outcome.status == RunStatus.succeeded, result.outcome.error
    assert result.outcome.outputs == {"output": [1, 10, 2, 20, 3, 30]}


def scripted(*, classify: str, first: str) -> ScriptedLLM:
    """Classifier calls get `{"category_id": classify}`; the first LLM of a flow gets `first`; any other LLM
    echoes its system prompt, so what reached it shows in the output."""
    def reply(request: LLMRequest) -> str:
        system = request.messages[0].content
        if "classification engine" in system:
            return json.dumps({"category_id": classify})
        if system.startswith(("Decide whether", "You sort support chats")):
            return first
        return system
    return ScriptedLLM(reply)


@pytest.mark.parametrize(("category", "end_title"), [("1", "End 2"), ("2", "End 3"), ("1700000000100", "End 4")])
def test_old_classifier_document_every_class(category, end_title):
    result = run(load("v010_classifier_knowledge.yml"), {"question": "how to install"},
                 llm=scripted(classify=category, first="LOOKUP"), services=NodeServices(retriever=FixedRetriever()))
    assert result.outcome.status == RunStatus.succeeded, result.outcome.error
    finished_end = [r for r in result.runner.records.values() if r.node_type == "end"]
    assert [r.title for r in finished_end] == [end_title]
    assert "Docs on how to install" in result.outcome.outputs["output"]  # the context reached the reply LLM
    retrieval = next(r for r in result.runner.records.values() if r.node_type == "knowledge-retrieval")
    assert retrieval.outputs["result"][0]["metadata"]["dataset_id"] == OLD_DATASET


def test_old_classifier_document_off_topic_path():
    result = run(load("v010_classifier_knowledge.yml"), {"question": "the weather"},
                 llm=scripted(classify="1", first="DONE"))
    assert result.outcome.outputs == {"output": "Sorry, the weather is not about the product."}


@pytest.mark.parametrize("category", ["1710000000101", "1710000000102"])
def test_old_intent_document_both_intents(category):
    result = run(load("v010_intent_reply.yml"), {"message": "heart rate looks wrong"},
                 llm=scripted(classify=category, first="intent: help"),
                 services=NodeServices(retriever=FixedRetriever()))
    assert result.outcome.status == RunStatus.succeeded, result.outcome.error
    aggregated = result.record("1710000000007").outputs["output"]
    ran = {r.node_id for r in result.runner.records.values() if r.status == NodeStatus.succeeded}
    assert ("1710000000005" in ran) == (category == "1710000000102")  # knowledge retrieval only for app help
    assert aggregated and aggregated in result.outcome.outputs["output"]


@pytest.mark.parametrize("country", ["", "France"])
def test_old_translation_document_both_branches(country):
    inputs: dict[str, Any] = {"target_lang": "French", "source_text": "hello", "source_lang": "English",
                              "country": country}
    llm = ScriptedLLM(lambda request: f"[{len(request.messages)}] {request.messages[-1].content[:40]}")
    result = run(load("v010_translation_review.yml"), inputs, llm=llm)
    assert result.outcome.status == RunStatus.succeeded, result.outcome.error
    assert len(llm.requests) == 3 and result.outcome.outputs["output"]
    titles = {r.title for r in result.runner.records.values()}
    assert ("REVIEW" in titles) == (country == "") and ("REVIEW FOR COUNTRY" in titles) == (country != "")
    assert {m.model for m in llm.requests} == {"deepseek-chat"}


def test_chatflow_answers_with_the_model_text():
    llm = ScriptedLLM(lambda request: "answer to " + request.messages[-1].content)
    result = run(load("chatflow.yml"), {}, llm=llm, system={"query": "ping"})
    assert result.outcome.status == RunStatus.succeeded, result.outcome.error
    answer = next(r for r in result.runner.records.values() if r.node_type == "answer")
    assert answer.outputs["answer"] == "answer to ping"

