"""`iteration`: per-item body runs, item/index selectors, flatten, parallel, error modes, events."""

from __future__ import annotations

import time

import pytest

from app.engine.events import NodeFinished
from app.engine.runner import Limits
from tests.app.engine.harness import MODEL, ScriptedLLM, edge, end, graph, node, run, start


def iteration_graph(body: list[dict], body_edges: list[dict], output: list[str], **data):
    it = node("it", "iteration", iterator_selector=["start", "items"], output_selector=output,
              start_node_id="it-start", **data)
    nodes = [start(), it, node("it-start", "iteration-start", parent="it"), *body, end(out=["it", "output"])]
    return graph(nodes, [edge("start", "it"), edge("it", "end"), *body_edges])


def template_body():
    tt = node("tt", "template-transform", parent="it", template="{{ x }}-{{ i }}",
              variables=[{"variable": "x", "value_selector": ["it", "item"]},
                         {"variable": "i", "value_selector": ["it", "index"]}])
    return [tt], [edge("it-start", "tt")], ["tt", "output"]


def list_body():
    lo = node("lo", "list-operator", parent="it", variable=["it", "item"])
    return [lo], [edge("it-start", "lo")], ["lo", "result"]


def test_runs_body_per_item_with_item_and_index():
    result = run(iteration_graph(*template_body()), {"items": ["a", "b", "c"]})
    assert result.outcome.outputs == {"out": ["a-0", "b-1", "c-2"]}
    assert set(result.runner.records) == {"start", "it", "end"}  # body nodes are not top-level steps
    body_events = [e.record for e in result.events if isinstance(e, NodeFinished) and e.record.node_id == "tt"]
    assert [(r.metadata["iteration_id"], r.metadata["iteration_index"]) for r in body_events] == [
        ("it", 0), ("it", 1), ("it", 2)]
    assert len({r.index for r in body_events} | {r.index for r in result.runner.records.values()}) == 6


def test_flatten_output_and_empty_list():
    assert run(iteration_graph(*list_body()), {"items": [[1, 2], [3]]}).outcome.outputs == {"out": [1, 2, 3]}
    kept = run(iteration_graph(*list_body(), flatten_output=False), {"items": [[1, 2], [3]]})
    assert kept.outcome.outputs == {"out": [[1, 2], [3]]}
    assert run(iteration_graph(*list_body()), {"items": []}).outcome.outputs == {"out": []}


@pytest.mark.parametrize(("mode", "expected"), [("continue-on-error", [[1], None, [2]]),
                                                ("remove-abnormal-output", [1, 2])])
def test_error_modes(mode, expected):
    result = run(iteration_graph(*list_body(), error_handle_mode=mode), {"items": [[1], "x", [2]]})
    assert result.outcome.status == "succeeded"
    assert result.outcome.outputs == {"out": expected}


def test_terminated_fails_the_run_and_non_list_input_fails():
    failed = run(iteration_graph(*list_body()), {"items": [[1], "x"]}).outcome
    assert failed.status == "failed" and "index 1" in failed.error and "not an array" in failed.error
    assert "provide a list" in run(iteration_graph(*list_body()), {"items": "abc"}).outcome.error


def test_parallel_runs_items_concurrently_in_order():
    llm = ScriptedLLM(lambda request: request.messages[-1].content.upper(), delay=0.3)
    body = [node("llm", "llm", parent="it", model=MODEL,
                 prompt_template=[{"role": "user", "text": "item {{#it.item#}}"}])]
    g = iteration_graph(body, [edge("it-start", "llm")], ["llm", "text"], is_parallel=True, parallel_nums=4)
    began = time.perf_counter()
    result = run(g, {"items": ["a", "b", "c", "d"]}, llm=llm)
    elapsed = time.perf_counter() - began
    assert result.outcome.outputs == {"out": ["ITEM A", "ITEM B", "ITEM C", "ITEM D"]}
    assert elapsed < 0.9, elapsed  # sequential would take 1.2 s
    assert result.outcome.total_tokens == 20


def test_call_depth_limit():
    outcome = run(iteration_graph(*template_body()), {"items": ["a"]}, limits=Limits(max_call_depth=0)).outcome
    assert outcome.status == "failed" and "depth" in outcome.error


def test_body_validation_at_import():
    from app.errors import InvalidParam

    with pytest.raises(InvalidParam, match="iteration-start"):
        graph([start(), node("it", "iteration", iterator_selector=["start", "items"], output_selector=["tt", "output"]),
               node("tt", "template-transform", parent="it", template=""), end()],
              [edge("start", "it"), edge("it", "end")])
    with pytest.raises(InvalidParam, match="boundary"):
        nodes, edges, out = template_body()
        iteration_graph(nodes, [*edges, edge("start", "tt")], out)


def test_body_node_ends_never_claim_the_run_goes_straight_on():
    # Items of a parallel iteration run side by side: a body node's end must not be held for what follows.
    result = run(iteration_graph(*template_body(), is_parallel=True), {"items": ["a", "b"]})
    body = [e for e in result.events if isinstance(e, NodeFinished) and e.record.node_id == "tt"]
    assert len(body) == 2 and not any(e.next_at_once for e in body)
