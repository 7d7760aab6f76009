"""A run as one trace, in process: the real executor on embedded backends with spans captured by the SDK's
in-memory exporter behind the real batch processor; trace ids from traceparent / X-Trace-Id; content off by
default and masked when on; a dead collector never slows a run."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.db import upgrade_schema
from app.engine.events import NodeFinished, NodeStarted
from app.engine.ports import NodeServices, ToolRef, ToolResult, ToolSpec
from app.engine.state import NodeRecord, NodeStatus
from app.errors import ToolInvokeError
from app.logs import bind, current_context
from app.models import WorkflowRun
from app.models.base import utcnow
from app.providers.tracing import ExportConfig, OtelTracer
from app.services.accounts import AppPrincipal
from app.services.run_trace import Tracing, trace_origin, tracing_from
from app.wiring import Container, build
from tests.trace_flows import traced_flow
from worker.runtime import build_runtime

CONFIG = ExportConfig(traces_url="http://127.0.0.1:9/v1/traces", headers={}, schedule_delay_ms=50)


def traced_container(settings: Any, tracing: Tracing) -> Container:
    settings.ensure_home()
    upgrade_schema(settings.sqlalchemy_url)
    holder: dict[str, Any] = {}
    container = build(settings, runtime=lambda: holder["runtime"])
    container.tracing = tracing
    holder["runtime"] = build_runtime(container)
    container.huey.immediate = True
    return container


@pytest.fixture
def captured(make_settings: Callable[..., Any]) -> Iterator[tuple[Container, InMemorySpanExporter, OtelTracer]]:
    exporter = InMemorySpanExporter()
    tracer = OtelTracer(CONFIG, exporter=exporter)
    container = traced_container(make_settings(), Tracing(lambda: tracer))
    yield container, exporter, tracer
    container.close()
    tracer.shutdown()


def submit(container: Container, inputs: dict[str, Any], headers: dict[str, str] | None = None,
           body_trace_id: str | None = None) -> str:
    workspace = container.accounts.default_workspace_id()
    app = container.apps.import_dsl(workspace, traced_flow())
    trace = container.tracing.origin(headers or {}, body_trace_id)
    return container.runs.submit(AppPrincipal(workspace, app.id, "k"), inputs, "u1", "blocking", trace=trace).run_id


def test_a_run_is_one_trace_with_nodes_nested_and_genai_spans_matching_the_run(captured):
    container, exporter, tracer = captured
    run_id = submit(container, {"q": "why", "items": ["a", "b"]})
    run = container.runs.load(run_id)
    assert run.status == "succeeded", run.error
    assert tracer.flush()
    spans = exporter.get_finished_spans()
    assert len({s.context.trace_id for s in spans}) == 1
    assert f"{spans[0].context.trace_id:032x}" == run.trace["trace_id"]
    roots = [s for s in spans if s.parent is None]
    assert [r.name for r in roots] == ["workflow_run"]
    root = roots[0]
    assert f"{root.context.span_id:016x}" == run.trace["span_id"]
    assert root.attributes["trellis.run.total_tokens"] == run.total_tokens
    by_id = {s.context.span_id: s for s in spans}
    nodes = {s.attributes["trellis.node.id"]: s for s in spans if "trellis.node.id" in s.attributes
             and s.attributes["trellis.node.id"] != "ask"}
    for node_id in ("start", "llm1", "it", "end"):
        assert nodes[node_id].parent.span_id == root.context.span_id
    asks = [s for s in spans if s.attributes.get("trellis.node.id") == "ask"]
    assert sorted(s.attributes["trellis.iteration.index"] for s in asks) == [0, 1]
    assert {s.parent.span_id for s in asks} == {nodes["it"].context.span_id}
    chats = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "chat"]
    assert len(chats) == 3
    assert {by_id[c.parent.span_id].attributes["trellis.node.id"] for c in chats} == {"llm1", "ask"}
    with container.sessions() as session:
        from sqlalchemy import text
        calls = session.execute(text("select prompt_tokens, completion_tokens from llm_calls where run_id = :r"),
                                {"r": run_id}).all()
    assert sorted((c.attributes["gen_ai.usage.input_tokens"], c.attributes["gen_ai.usage.output_tokens"])
                  for c in chats) == sorted(tuple(row) for row in calls)
    assert sum(c.attributes["gen_ai.usage.input_tokens"] + c.attributes["gen_ai.usage.output_tokens"]
               for c in chats) == run.total_tokens
    assert all(c.attributes["gen_ai.request.model"] == "trace-model" for c in chats)
    # Content is off by default: no prompt, completion, input or output on any span.
    assert not any(k in s.attributes for s in spans for k in ("gen_ai.input.messages", "input.value"))


def test_content_is_on_spans_only_when_asked_and_masked(make_settings):
    exporter = InMemorySpanExporter()
    tracer = OtelTracer(CONFIG, exporter=exporter)
    container = traced_container(make_settings(), Tracing(lambda: tracer, content=True))
    try:
        run_id = submit(container, {"q": "my key is sk-abcdefghijklmnop", "items": []})
        assert container.runs.load(run_id).status == "succeeded"
        tracer.flush()
        chat = next(s for s in exporter.get_finished_spans() if s.attributes.get("gen_ai.operation.name") == "chat")
        assert "answer my key is sk-***" in chat.attributes["gen_ai.input.messages"]
        assert "abcdefghijklmnop" not in chat.attributes["gen_ai.input.messages"]
    finally:
        container.close()
        tracer.shutdown()


def test_trace_ids_come_from_traceparent_then_dify_trace_id():
    parent = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    origin = trace_origin(parent, "ignored")
    assert origin["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert origin["parent_span_id"] == "b7ad6b7169203331" and len(origin["span_id"]) == 16
    hexed = trace_origin({"X-Trace-Id": "4BF92F3577B34DA6A3CE929D0E0E4736"}, None)
    assert hexed["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736" and "parent_span_id" not in hexed
    named = trace_origin({}, "order-1234")
    assert named == {**named, "trace_id": trace_origin({}, "order-1234")["trace_id"],
                     "external_trace_id": "order-1234"}
    assert trace_origin({"traceparent": "00-" + "0" * 32 + "-b7ad6b7169203331-01"}, None)["trace_id"] != "0" * 32


def test_off_by_default_builds_nothing(make_settings):
    tracing = tracing_from(make_settings())
    assert not tracing.enabled and tracing.origin({"X-Trace-Id": "x"}, None) is None
    assert tracing_from(make_settings(otel_exporter_otlp_endpoint="http://127.0.0.1:4318")).enabled


def black_hole() -> tuple[socket.socket, int]:
    """A port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return server, server.getsockname()[1]


@pytest.mark.parametrize("collector", ["silent", "refused"])
def test_a_dead_collector_never_slows_or_fails_a_run(make_settings, collector):
    server, port = black_hole()
    if collector == "refused":
        server.close()
    settings = make_settings(otel_exporter_otlp_endpoint=f"http://127.0.0.1:{port}", otel_bsp_schedule_delay=10,
                             otel_exporter_otlp_timeout=30)
    container = traced_container(settings, tracing_from(settings))
    try:
        started = time.monotonic()
        for _ in range(3):
            run_id = submit(container, {"q": "x", "items": ["a"]})
            assert container.runs.load(run_id).status == "succeeded"
        assert time.monotonic() - started < 5
        started = time.monotonic()
        container.close()  # stopping the process waits a short grace, not the 30 s export timeout
        assert time.monotonic() - started < 5
    finally:
        server.close()


class EchoTools:
    """A ToolRuntime at the port (the engine's protocol), standing in for the tool registry."""

    def describe(self, workspace_id: str, ref: ToolRef) -> ToolSpec:
        return ToolSpec(ref)

    def invoke(self, workspace_id: str, ref: ToolRef, arguments: dict[str, Any]) -> ToolResult:
        if arguments.get("fail"):
            raise ToolInvokeError("the tool broke")
        return ToolResult(text=f"echo {arguments}")


class Reply:
    status_code = 503


class FixedHttp:
    """The HTTP client port answering 503 (the egress-guarded client refuses loopback addresses)."""

    def request(self, method: str, url: str, **kwargs: Any) -> Reply:
        return Reply()


def test_tool_calls_are_spans_under_their_node_and_logs_carry_the_node_span():
    exporter = InMemorySpanExporter()
    tracer = OtelTracer(CONFIG, exporter=exporter)
    run = WorkflowRun(id="r1", app_id="a", workspace_id="w", inputs={}, trace=trace_origin({}, None),
                      created_at=utcnow())
    trace = Tracing(lambda: tracer).attempt(run, {}, frozenset(), attempt=1, resumed=False)
    services = trace.services(NodeServices(tools=EchoTools(), http=FixedHttp()))
    tools = services.tools
    ref = ToolRef("builtin", "time", "current_time")
    record = NodeRecord(execution_id="e1", node_id="tool1", node_type="tool", title="Tool", index=1,
                        predecessor_node_id=None, status=NodeStatus.running, started_at=time.time())
    sink = trace.sink(lambda event: None)
    with bind(node_id="tool1"):
        sink(NodeStarted(record))
        logged = current_context()
        tools.invoke("w", ref, {"x": 1})
        with pytest.raises(ToolInvokeError):
            tools.invoke("w", ref, {"fail": True})
        services.http.request("get", "https://api.example.com/v1/items?token=sk-secretsecretsecret")
    done = dataclasses.replace(record, status=NodeStatus.failed, error="the tool broke", finished_at=time.time())
    sink(NodeFinished(done))
    tracer.flush()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    node = spans["Tool"]
    assert logged["trace_id"] == run.trace["trace_id"] and logged["span_id"] == f"{node.context.span_id:016x}"
    calls = [s for s in exporter.get_finished_spans() if s.name == "execute_tool current_time"]
    assert [c.parent.span_id for c in calls] == [node.context.span_id] * 2
    assert calls[0].attributes["gen_ai.tool.name"] == "current_time"
    assert [c.status.status_code.name for c in calls] == ["UNSET", "ERROR"]
    assert node.status.status_code.name == "ERROR" and node.parent.span_id == int(run.trace["span_id"], 16)
    http = spans["HTTP GET"]
    assert http.parent.span_id == node.context.span_id and http.attributes["http.response.status_code"] == 503
    assert http.attributes["url.full"] == "https://api.example.com/v1/items"
    tracer.shutdown()
