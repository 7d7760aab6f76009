"""Public Dify exports (kept outside the repository, found through tests/corpus.py; each test skips with the
setting to use when they are absent) on the real GraphRunner with a tiny scripted LLM port. The same behaviour is
covered on the project's own documents in test_fixtures.py; these check the real files still run.

langgenius fixtures: each app.description states the expected result, asserted here. Community exports
(svcvit_*, DSL 0.1.0, providers deepseek/tongyi, dataset ids from another workspace) must import and run
every branch. Out of scope here: the http-request export (another engineer's node) and chatflow turns.
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import pytest

from app.engine.dsl import parse_dsl
from app.engine.graph import Graph, build_graph
from app.engine.ports import LLMRequest, NodeServices
from app.engine.state import NodeStatus, RunStatus
from tests.app.engine.harness import FixedRetriever, ScriptedLLM, run
from tests.corpus import public_export

needs_code = pytest.mark.skipif(
    importlib.util.find_spec("app.engine.nodes.code") is None or importlib.util.find_spec("app.providers.sandbox")
    is None, reason="the code node and its sandbox provider are not in this tree yet")


def load(name: str) -> Graph:
    doc = parse_dsl(public_export(name))
    return build_graph(doc.workflow, doc.app.mode)


def sandbox_services() -> NodeServices:
    from app.providers.sandbox import ProcessSandbox

    return NodeServices(sandbox=ProcessSandbox())


def test_basic_llm_chat_workflow_answers_with_the_model_text():
    llm = ScriptedLLM(lambda request: f"reply to {request.messages[-1].content}")
    result = run(load("langgenius_dify_basic_llm_chat_workflow.yml"), {"query": "hi"}, llm=llm)
    assert result.outcome.outputs == {"answer": "reply to hi"}
    assert llm.requests[0].model == "gpt-3.5-turbo"


@pytest.mark.parametrize(("query", "expected"), [("well hello there", {"true": "well hello there"}),
                                                 ("goodbye", {"false": "goodbye"})])
def test_conditional_hello_branching(query, expected):
    assert run(load("langgenius_dify_conditional_hello_branching_workflow.yml"), {"query": query}).outcome.outputs \
        == expected


@pytest.mark.parametrize(("s1", "s2"), [(1, 0), (0, 1), (1, 1), (0, 0)])
def test_dual_switch_variable_aggregator(s1, s2):
    result = run(load("langgenius_dify_dual_switch_variable_aggregator_workflow.yml"), {"switch1": s1, "switch2": s2})
    assert result.outcome.outputs == {"group1": f"switch 1 {'on' if s1 else 'off'}",
                                      "group2": f"switch 2 {'on' if s2 else 'off'}"}
    assert result.outcome.total_steps == 7  # start, 2 if-else, 2 of the 4 templates, aggregator, end
    assert len([r for r in result.runner.records.values() if r.node_type == "template-transform"]) == 2


@needs_code
@pytest.mark.parametrize(("switch", "expected"), [(1, {"1": "Code 1", "2": "Code 2", "3": None}),
                                                  (0, {"1": None, "2": "Code 2", "3": "Code 3"})])
def test_conditional_parallel_code_execution(switch, expected):
    result = run(load("langgenius_dify_conditional_parallel_code_execution_workflow.yml"), {"switch": switch},
                 services=sandbox_services())
    assert result.outcome.status == RunStatus.succeeded, result.outcome.error
    assert result.outcome.outputs == expected


@needs_code
def test_iteration_flatten_output_enabled():
    result = run(load("langgenius_dify_iteration_flatten_output_enabled_workflow.yml"), {},
                 services=sandbox_services())
    assert result.outcome.status == RunStatus.succeeded, result.outcome.error
    assert result.outcome.outputs == {"output": [1, 2, 2, 4, 3, 6]}


def scripted(*, classify: str, first: str) -> ScriptedLLM:
    """Classifier calls get `{"category_id": classify}`; the first LLM of a flow gets `first`; any other LLM
    echoes its system prompt, so what reached it shows in the output."""
    def reply(request: LLMRequest) -> str:
        system = request.messages[0].content
        if "classification engine" in system:
            return json.dumps({"category_id": classify})
        if request.messages[-1].content.startswith(("用户的问题是", "## 角色")):
            return first
        return system
    return ScriptedLLM(reply)


@pytest.mark.parametrize(("category", "end_title"), [("1", "End 2"), ("2", "End 3"), ("1720796069925", "End 4"),
                                                    ("1720839653345", "End 5")])
def test_svcvit_document_chat_every_class(category, end_title):
    g = load("svcvit_Awesome-Dify-Workflow_Document_chat_template.yml")
    services = NodeServices(retriever=FixedRetriever("Dify docs on"))
    result = run(g, {"input": "how to install"}, llm=scripted(classify=category, first="需要查询文档"),
                 services=services)
    assert result.outcome.status == RunStatus.succeeded, result.outcome.error
    finished_end = [r for r in result.runner.records.values() if r.node_type == "end"]
    assert [r.title for r in finished_end] == [end_title]
    assert "Dify docs on how to install" in result.outcome.outputs["output"]
    retrieval = next(r for r in result.runner.records.values() if r.node_type == "knowledge-retrieval")
    assert retrieval.outputs["result"][0]["metadata"]["dataset_id"] == "8c4620fa-15d7-464f-9cb9-561f1a59eb3f"


def test_svcvit_document_chat_off_topic_path():
    result = run(load("svcvit_Awesome-Dify-Workflow_Document_chat_template.yml"), {"input": "天气"},
                 llm=scripted(classify="1", first="询问结束"))
    assert result.outcome.outputs == {"output": "你的问题 天气 不属于dify文档的相关内容，请重新提问。"}


@pytest.mark.parametrize("category", ["1715846546749", "1715846565625"])
def test_svcvit_intent_reply_both_intents(category):
    result = run(load("svcvit_Awesome-Dify-Workflow_intent_reply.yml"), {"query": "心率不准"},
                 llm=scripted(classify=category, first="intent: help"), services=NodeServices(
                     retriever=FixedRetriever("Dify docs on")))
    assert result.outcome.status == RunStatus.succeeded, result.outcome.error
    aggregated = result.record("1718852940536").outputs["output"]
    ran = {r.node_id for r in result.runner.records.values() if r.status == NodeStatus.succeeded}
    assert ("1721623802451" in ran) == (category == "1715846565625")  # knowledge retrieval only for 使用帮助
    assert aggregated and aggregated in result.outcome.outputs["output"]


@pytest.mark.parametrize("country", ["", "France"])
def test_svcvit_translation_both_branches(country):
    inputs: dict[str, Any] = {"target_lang": "French", "source_text": "hello", "source_lang": "English",
                              "country": country}
    llm = ScriptedLLM(lambda request: f"[{len(request.messages)}] {request.messages[-1].content[:40]}")
    result = run(load("svcvit_Awesome-Dify-Workflow_translation_workflow.yml"), inputs, llm=llm)
    assert result.outcome.status == RunStatus.succeeded, result.outcome.error
    assert len(llm.requests) == 3 and result.outcome.outputs["output"]
    titles = {r.title for r in result.runner.records.values()}
    assert ("EXPERT_SUGGESTIONS" in titles) == (country == "")
    assert {m.model for m in llm.requests} == {"deepseek-chat"}


@pytest.mark.skipif("answer" not in __import__("app.engine.nodes", fromlist=["NODE_TYPES"]).NODE_TYPES,
                    reason="the answer node (chatflow engineer) is not registered yet")
def test_basic_chatflow_answers_with_the_model_text():
    llm = ScriptedLLM(lambda request: "answer to " + request.messages[-1].content)
    result = run(load("langgenius_dify_basic_chatflow.yml"), {}, llm=llm, system={"query": "ping"})
    assert result.outcome.status == RunStatus.succeeded, result.outcome.error
    answer = next(r for r in result.runner.records.values() if r.node_type == "answer")
    assert answer.outputs["answer"] == "answer to ping"
