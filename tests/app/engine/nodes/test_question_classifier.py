"""`question-classifier`: class ids as edge handles, fallback to the first class, legacy keys."""

from __future__ import annotations

import json

import pytest

from app.engine.ports import LLMRequest
from app.errors import InvalidParam
from tests.app.engine.harness import MODEL, ScriptedLLM, edge, end, graph, node, run, start

CLASSES = [{"id": "1", "name": "billing"}, {"id": "2", "name": "shipping"}]


def classifier_graph(**data):
    qc = node("qc", "question-classifier", model=MODEL, query_variable_selector=["start", "q"],
              **({"classes": CLASSES} | data))
    nodes = [start("q"), qc, node("t1", "template-transform", template="one"),
             node("t2", "template-transform", template="two"),
             node("agg", "variable-aggregator", variables=[["t1", "output"], ["t2", "output"]]),
             end(out=["agg", "output"], name=["qc", "class_name"])]
    edges = [edge("start", "qc"), edge("qc", "t1", "1"), edge("qc", "t2", "2"), edge("t1", "agg"),
             edge("t2", "agg"), edge("agg", "end")]
    return graph(nodes, edges)


@pytest.mark.parametrize("answer", ['{"category_id": "2", "category_name": "shipping"}',
                                    'Sure!\n```json\n{"keywords": ["parcel"], "category_id": "2"}\n```',
                                    '{"category_name": "Shipping"}'])
def test_answer_selects_class_and_edge(answer):
    result = run(classifier_graph(), {"q": "where is my parcel"}, llm=ScriptedLLM(answer))
    assert result.outcome.outputs == {"out": "two", "name": "shipping"}
    assert result.record("qc").edge_handle == "2"
    assert result.record("qc").outputs["class_id"] == "2"
    assert result.record("qc").total_tokens == 5


@pytest.mark.parametrize("answer", ["I cannot decide", '{"category_id": "99"}', ""])
def test_unparseable_answer_takes_first_class(answer):
    result = run(classifier_graph(), {"q": "hmm"}, llm=ScriptedLLM(answer))
    assert result.outcome.outputs == {"out": "one", "name": "billing"}


def test_prompt_carries_query_classes_and_legacy_instructions():
    llm = ScriptedLLM('{"category_id": "1"}')
    run(classifier_graph(instructions="Refunds count as {{#start.q#}}"), {"q": "money back"}, llm=llm)
    request: LLMRequest = llm.requests[0]
    prompt = request.messages[-1].content
    assert "money back" in prompt and "Refunds count as money back" in prompt
    assert json.dumps([{"category_id": "1", "category_name": "billing"},
                       {"category_id": "2", "category_name": "shipping"}]) in prompt
    assert request.model == "m"


def test_legacy_topics_and_unknown_handle_rejected():
    legacy = node("qc", "question-classifier", model=MODEL, query_variable_selector=["start", "q"], classes=[],
                  topics=[{"id": 7, "name": "seven"}])
    g = graph([start("q"), legacy, end(name=["qc", "class_name"])], [edge("start", "qc"), edge("qc", "end", "7")])
    assert run(g, {"q": "x"}, llm=ScriptedLLM("?")).outcome.outputs == {"name": "seven"}
    with pytest.raises(InvalidParam):
        graph([start("q"), node("qc", "question-classifier", model=MODEL, query_variable_selector=["start", "q"],
                                classes=CLASSES), end()], [edge("start", "qc"), edge("qc", "end", "3")])
