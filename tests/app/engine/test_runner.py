"""The runner: concurrency of parallel branches, error strategies, retries, limits, env/sys variables,
masking of secret environment values and the log context on branch threads."""

from __future__ import annotations

import io
import json
import logging
import threading
import time

from app.engine.events import NodeFinished, NodeStarted, TextChunk
from app.engine.ports import LLMRequest, LLMResult, LLMUsage
from app.engine.runner import Limits
from app.engine.state import NodeStatus, RunStatus
from app.errors import ProviderRequestError
from app.logs import JsonFormatter, bind
from tests.app.engine.harness import MODEL, ScriptedLLM, chain, edge, end, graph, node, run, start


def llm_node(node_id: str, text: str, **data):
    return node(node_id, "llm", model=MODEL, prompt_template=[{"role": "user", "text": text}], **data)


def test_three_parallel_branches_run_concurrently():
    llm = ScriptedLLM(lambda request: request.messages[-1].content, delay=0.3)
    nodes = [start("q"), llm_node("a", "A {{#start.q#}}"), llm_node("b", "B"), llm_node("c", "C"),
             end(a=["a", "text"], b=["b", "text"], c=["c", "text"])]
    edges = [edge("start", x) for x in "abc"] + [edge(x, "end") for x in "abc"]
    began = time.perf_counter()
    result = run(graph(nodes, edges), {"q": "q"}, llm=llm)
    elapsed = time.perf_counter() - began
    assert result.outcome.outputs == {"a": "A q", "b": "B", "c": "C"}
    assert elapsed < 0.6, f"3 x 0.3 s branches took {elapsed:.2f} s"
    assert result.outcome.total_steps == 5 and result.outcome.total_tokens == 15


def failing_list(node_id: str, **data):
    # A list-operator over a string fails at run time: a real node failure, no fakes.
    return node(node_id, "list-operator", variable=["start", "q"], **data)


def test_fail_branch_takes_the_fail_handle_and_run_is_partial():
    nodes = [start("q"), failing_list("lo", error_strategy="fail-branch"),
             node("ok", "template-transform", template="fine"),
             node("bad", "template-transform", template="{{ m }}",
                  variables=[{"variable": "m", "value_selector": ["lo", "error_message"]}]),
             node("agg", "variable-aggregator", variables=[["ok", "output"], ["bad", "output"]]),
             end(out=["agg", "output"], kind=["lo", "error_type"])]
    edges = [edge("start", "lo"), edge("lo", "ok"), edge("lo", "bad", "fail-branch"), edge("ok", "agg"),
             edge("bad", "agg"), edge("agg", "end")]
    result = run(graph(nodes, edges), {"q": "text"})
    assert result.outcome.status == RunStatus.partial_succeeded
    assert result.outcome.exceptions_count == 1
    assert result.outcome.outputs == {"out": "Variable start.q is not an array", "kind": "WorkflowError"}
    record = result.record("lo")
    assert record.status == NodeStatus.exception and record.edge_handle == "fail-branch"
    assert "ok" not in result.runner.records


def test_default_value_continues_on_the_normal_edge_with_typed_defaults():
    lo = failing_list("lo", error_strategy="default-value", default_value=[
        {"key": "result", "type": "array[string]", "value": '["fallback"]'},
        {"key": "first_record", "type": "string", "value": "none"}])
    g = graph([start("q"), lo, end(result=["lo", "result"], first=["lo", "first_record"])], chain("start", "lo", "end"))
    result = run(g, {"q": "x"})
    assert result.outcome.status == RunStatus.partial_succeeded
    assert result.outcome.outputs == {"result": ["fallback"], "first": "none"}
    assert result.record("lo").outputs["error_type"] == "WorkflowError"


def test_fail_branch_handle_needs_the_strategy():
    import pytest

    from app.errors import InvalidParam

    with pytest.raises(InvalidParam, match="fail-branch"):
        graph([start("q"), failing_list("lo"), end()], [edge("start", "lo"), edge("lo", "end", "fail-branch")])


class FlakyLLM:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def complete(self, request: LLMRequest, on_delta) -> LLMResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise ProviderRequestError("upstream 502")
        return LLMResult("recovered", LLMUsage(1, 1))


def test_retry_config_retries_then_succeeds_or_fails():
    retry = {"retry_enabled": True, "max_retries": 2, "retry_interval": 20}
    g = graph([start(), llm_node("l", "hi", retry_config=retry), end(t=["l", "text"])], chain("start", "l", "end"))
    flaky = FlakyLLM(failures=2)
    began = time.perf_counter()
    result = run(g, llm=flaky)
    assert result.outcome.outputs == {"t": "recovered"} and flaky.calls == 3
    assert result.record("l").metadata["retry_count"] == 2
    assert time.perf_counter() - began >= 0.04
    exhausted = run(g, llm=FlakyLLM(failures=3))
    assert exhausted.outcome.status == RunStatus.failed and "upstream 502" in exhausted.outcome.error


def test_no_retry_starts_past_the_runs_deadline():
    retry = {"retry_enabled": True, "max_retries": 10, "retry_interval": 2000}
    g = graph([start(), llm_node("l", "hi", retry_config=retry), end(t=["l", "text"])], chain("start", "l", "end"))
    flaky = FlakyLLM(failures=10)
    began = time.perf_counter()
    result = run(g, llm=flaky, limits=Limits(max_seconds=1.0))
    assert time.perf_counter() - began < 1.0 and flaky.calls == 1
    assert result.outcome.status == RunStatus.failed and "upstream 502" in result.outcome.error


def test_limits_steps_and_variable_size():
    g = graph([start("q"), node("t", "template-transform", template="{{ q * 300 }}",
                                variables=[{"variable": "q", "value_selector": ["start", "q"]}]),
               end(out=["t", "output"])], chain("start", "t", "end"))
    big = run(g, {"q": "x" * 10}, limits=Limits(max_variable_bytes=1000)).outcome
    assert big.status == RunStatus.failed and "variable size limit" in big.error
    assert run(g, {"q": "x"}, limits=Limits(max_variable_bytes=1000)).outcome.status == RunStatus.succeeded
    steps = run(g, {"q": "x"}, limits=Limits(max_steps=2)).outcome
    assert steps.status == RunStatus.failed and steps.error == "Max steps 2 reached."
    late = run(g, {"q": "x"}, limits=Limits(max_seconds=-1)).outcome
    assert late.status == RunStatus.failed and "Max execution time" in late.error


def test_env_and_sys_variables_and_secret_masking():
    env = [{"name": "API_KEY", "value": "sk-live-123456", "value_type": "secret"},
           {"name": "REGION", "value": "eu", "value_type": "string"}]
    nodes = [start(), llm_node("l", "key={{#env.API_KEY#}} region={{#env.REGION#}} user={{#sys.user_id#}}"),
             end(text=["l", "text"])]
    llm = ScriptedLLM(lambda request: request.messages[-1].content)
    result = run(graph(nodes, chain("start", "l", "end"), environment_variables=env), llm=llm,
                 system={"user_id": "u-7"})
    assert llm.requests[0].messages[-1].content == "key=sk-live-123456 region=eu user=u-7"  # nodes see the value
    published = repr([e for e in result.events if isinstance(e, NodeFinished | NodeStarted | TextChunk)])
    assert "sk-live-123456" not in published and "******" in published and "region=eu" in published
    assert result.outcome.outputs == {"text": "key=****** region=eu user=u-7"}
    overridden = run(graph(nodes, chain("start", "l", "end"), environment_variables=env), llm=llm,
                     env={"REGION": "us"})
    assert overridden.outcome.outputs["text"].endswith("region=us user=")


def test_restored_assigner_checkpoint_reapplies_its_writes():
    conversation = [{"name": "n", "value": 0, "value_type": "number"}]
    assign = node("as", "assigner", version="2", items=[
        {"variable_selector": ["conversation", "n"], "input_type": "constant", "operation": "+=", "value": 5}])
    g = graph([start(), assign, end(n=["conversation", "n"])], chain("start", "as", "end"),
              conversation_variables=conversation)
    first = run(g)
    assert first.outcome.outputs == {"n": 5}
    resumed = run(g, restored=[first.record("start"), first.record("as")])
    assert resumed.outcome.outputs == {"n": 5}
    assert [e.record.node_id for e in resumed.events if isinstance(e, NodeStarted)] == ["end"]


def test_stop_inside_a_parallel_iteration_stops_the_run():
    from app.engine.ports import EnginePorts
    from app.engine.runner import GraphRunner

    calls = []

    def stop_after_two() -> bool:
        return len(calls) >= 2

    llm = ScriptedLLM(lambda request: calls.append(1) or "x", delay=0.05)
    it = node("it", "iteration", iterator_selector=["start", "items"], output_selector=["l", "text"],
              is_parallel=True, parallel_nums=2)
    g = graph([start(), it, node("s", "iteration-start", parent="it"), llm_node("l", "hi", parent="it"),
               end(out=["it", "output"])], [edge("start", "it"), edge("it", "end"), edge("s", "l")])
    ports = EnginePorts(llm=llm, emit=lambda e: None, should_stop=stop_after_two)
    outcome = GraphRunner(g, ports).run({"items": list(range(20))})
    assert outcome.status == RunStatus.stopped
    assert len(calls) < 20


class LoggingLLM(ScriptedLLM):
    """Logs one line per call from inside the node, as a gateway would, and notes the thread it ran on."""

    def __init__(self) -> None:
        super().__init__(lambda request: request.messages[-1].content, delay=0.05)
        self.threads: dict[str, str] = {}

    def complete(self, request, on_delta):
        self.threads[request.messages[-1].content] = threading.current_thread().name
        logging.getLogger("tests.llm").info("calling the model", extra={"prompt_text": request.messages[-1].content})
        return super().complete(request, on_delta)


def test_log_lines_inside_nodes_on_parallel_branches_carry_run_and_node_ids():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.llm")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    llm = LoggingLLM()
    it = node("it", "iteration", iterator_selector=["start", "items"], output_selector=["l", "text"],
              is_parallel=True, parallel_nums=2)
    nodes = [start(), llm_node("a", "A"), llm_node("b", "B"), it, node("s", "iteration-start", parent="it"),
             llm_node("l", "L {{#it.index#}}", parent="it"), end(a=["a", "text"], b=["b", "text"], it=["it", "output"])]
    edges = [edge("start", "a"), edge("start", "b"), edge("start", "it"), edge("s", "l"),
             edge("a", "end"), edge("b", "end"), edge("it", "end")]
    try:
        with bind(run_id="run-7", app_id="app-7"):
            result = run(graph(nodes, edges), {"items": [1, 2]}, llm=llm)
    finally:
        logger.removeHandler(handler)
    assert result.outcome.status == RunStatus.succeeded
    # Every call ran off the scheduler's thread: branches on "branch-*", iteration items on "iter-*".
    assert llm.threads["A"].startswith("branch") and llm.threads["B"].startswith("branch")
    assert all(llm.threads[f"L {i}"].startswith("iter") for i in (0, 1))
    lines = {entry["prompt_text"]: entry for entry in map(json.loads, stream.getvalue().splitlines())}
    assert set(lines) == {"A", "B", "L 0", "L 1"}
    for text, entry in lines.items():
        assert entry["run_id"] == "run-7" and entry["app_id"] == "app-7"
        assert entry["node_id"] == ("l" if text.startswith("L") else text.lower())



def _branching_graph():
    cond = node("if", "if-else", cases=[{"case_id": "true", "logical_operator": "and", "conditions": [
        {"variable_selector": ["start", "x"], "comparison_operator": "≥", "value": "5"}]}])
    yes = node("yes", "template-transform", template="big", variables=[])
    no = node("no", "template-transform", template="small", variables=[])
    agg = node("agg", "variable-aggregator", output_type="string", variables=[["yes", "output"], ["no", "output"]])
    return graph([start("x"), cond, yes, no, agg, end(out=["agg", "output"])],
                 [edge("start", "if"), edge("if", "yes", "true"), edge("if", "no", "false"),
                  edge("yes", "agg"), edge("no", "agg"), edge("agg", "end")])


def test_a_resumed_run_follows_the_branch_its_checkpoint_took_not_todays_inputs():
    g = _branching_graph()
    first = run(g, {"x": 3})
    assert first.outcome.outputs == {"out": "small"}
    assert first.record("if").edge_handle == "false"
    # Resumed with inputs that would now pick the other branch: the checkpointed decision stands.
    resumed = run(g, {"x": 9}, restored=[first.record("start"), first.record("if")])
    assert resumed.outcome.outputs == {"out": "small"}
    started = [e.record.node_id for e in resumed.events if isinstance(e, NodeStarted)]
    assert "yes" not in started and "if" not in started and started[0] == "no"


def test_runs_share_a_branch_pool_with_the_per_run_parallelism_and_nested_bodies_keep_their_own():
    """A worker hands every run one branch pool: its threads serve run after run, one run still has at most
    `parallelism` branches at once, and an iteration body on a branch runs on its own pool (waiting on the
    shared one from its own thread could deadlock when it is full)."""
    from concurrent.futures import ThreadPoolExecutor

    from app.engine.ports import EnginePorts
    from app.engine.runner import GraphRunner

    active, peak, threads, lock = [0], [0], set(), threading.Lock()

    def reply(request: LLMRequest) -> str:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            threads.add(threading.current_thread().name)
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return request.messages[-1].content

    names = "abcd"
    it = node("it", "iteration", iterator_selector=["start", "items"], output_selector=["l", "text"],
              is_parallel=True, parallel_nums=2)
    nodes = [start("q"), *(llm_node(x, x) for x in names), it, node("s", "iteration-start", parent="it"),
             llm_node("l", "item", parent="it"), end(**{x: [x, "text"] for x in names}, it=["it", "output"])]
    edges = [edge("start", x) for x in [*names, "it"]] + [edge(x, "end") for x in [*names, "it"]] + [edge("s", "l")]
    g = graph(nodes, edges)
    # A shared pool of 1 thread: were the iteration's items queued on it behind the branch waiting for them,
    # the run would never finish.
    with ThreadPoolExecutor(1, thread_name_prefix="shared") as shared:
        for _ in range(2):
            threads.clear()
            ports = EnginePorts(llm=ScriptedLLM(reply), emit=lambda e: None)
            outcome = GraphRunner(g, ports, Limits(parallelism=2), branches=shared).run(
                {"q": "q", "items": [1, 2, 3]})
            assert outcome.status == RunStatus.succeeded, outcome.error
            assert outcome.outputs == {"a": "a", "b": "b", "c": "c", "d": "d", "it": ["item"] * 3}
            assert {t for t in threads if not t.startswith("iter")} == {"shared_0"}
    assert peak[0] <= 2


def test_a_run_on_a_large_shared_pool_keeps_its_own_parallelism():
    from concurrent.futures import ThreadPoolExecutor

    from app.engine.ports import EnginePorts
    from app.engine.runner import GraphRunner

    active, peak, lock = [0], [0], threading.Lock()

    def reply(request: LLMRequest) -> str:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return "x"

    names = "abcdef"
    g = graph([start(), *(llm_node(x, x) for x in names), end(**{x: [x, "text"] for x in names})],
              [edge("start", x) for x in names] + [edge(x, "end") for x in names])
    with ThreadPoolExecutor(16) as shared:
        ports = EnginePorts(llm=ScriptedLLM(reply), emit=lambda e: None)
        outcome = GraphRunner(g, ports, Limits(parallelism=3), branches=shared).run({})
    assert outcome.status == RunStatus.succeeded and len(outcome.outputs) == 6
    assert peak[0] == 3


def test_a_node_end_says_when_the_run_goes_straight_on():
    # issue 18: a sink may hold a slow node's end for the events that follow at once, but not while another
    # branch (or another item of a parallel iteration) may keep it waiting.
    llm = ScriptedLLM(lambda request: request.messages[-1].content)
    nodes = [start("q"), llm_node("a", "A"), llm_node("b", "B"), end(a=["a", "text"], b=["b", "text"])]
    edges = [edge("start", "a"), edge("start", "b"), edge("a", "end"), edge("b", "end")]
    result = run(graph(nodes, edges), {"q": "q"}, llm=DelayByPrompt({"A": 0.0, "B": 0.2}))
    at_once = {e.record.node_id: e.next_at_once for e in result.events if isinstance(e, NodeFinished)}
    assert at_once == {"start": True, "a": False, "b": True, "end": True}
    linear = run(graph([start("q"), llm_node("a", "A"), end(a=["a", "text"])], chain("start", "a", "end")),
                 {"q": "q"}, llm=llm)
    assert all(e.next_at_once for e in linear.events if isinstance(e, NodeFinished))


class DelayByPrompt:
    """Answers with the prompt after the delay its prompt maps to."""

    def __init__(self, delays: dict[str, float]) -> None:
        self.delays = delays

    def complete(self, request: LLMRequest, on_delta) -> LLMResult:  # type: ignore[no-untyped-def]
        text = request.messages[-1].content
        time.sleep(self.delays[text])
        on_delta(text)
        return LLMResult(text=text, usage=LLMUsage(1, 1))
