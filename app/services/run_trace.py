"""A workflow run as one OpenTelemetry trace: where the trace comes from (W3C `traceparent`, Dify's `X-Trace-Id`
header or `trace_id` body field, else new ids), and the spans of an attempt, built from what already flows
through the run's ports: node events (a span per node execution, nested under its iteration or loop), LLM
calls (GenAI spans) and tool calls and retrievals (under the node that made them).

The API reserves the root span's ids and stores them on the run row (`trace`), so every attempt, in any
worker, parents its spans to the same root; the attempt that finishes the run emits the root span itself
(from the run's creation to its end). A resumed attempt adds a `workflow_run.resume` span and marks its
spans with `trellis.run.attempt` / `trellis.run.resumed`. With tracing off every wrapper is the identity.
Prompts, completions and node inputs/outputs go on spans only with TRACE_CONTENT, masked like the audit log.
"""

from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import json
import logging
import random
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from app.engine.events import NodeFinished, NodeStarted
from app.engine.masking import Masker
from app.engine.ports import LLMGateway, NodeServices
from app.engine.state import NodeRecord, NodeStatus, RunOutcome
from app.logs import bind, mask_keys, set_context
from app.models import WorkflowRun
from app.models.base import as_utc
from app.providers.tracing import SpanRef, Tracer
from app.services import trace_spans
from app.services.audit import truncate
from app.settings import Settings

log = logging.getLogger(__name__)

TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
HEX_TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}$")

# The span of the node running on this thread (or branch context): the parent of its LLM and tool spans.
_node_span: contextvars.ContextVar[SpanRef | None] = contextvars.ContextVar("trellis_node_span", default=None)


def trace_origin(headers: Mapping[str, str], body_trace_id: str | None) -> dict[str, Any]:
    """The trace a new run joins, as stored on its row: `trace_id` and the reserved root `span_id` (hex), the
    client's `parent_span_id` when it sent a valid `traceparent`, and Dify's `external_trace_id` as given.
    A Dify trace id that is not 32 hex digits is hashed into one, so the same id always gives the same trace."""
    origin: dict[str, Any] = {"span_id": f"{_random_id(64):016x}"}
    match = TRACEPARENT.match((headers.get("traceparent") or "").strip().lower())
    external = headers.get("X-Trace-Id") or body_trace_id
    if match and int(match.group(1), 16) and int(match.group(2), 16):
        origin.update(trace_id=match.group(1), parent_span_id=match.group(2))
    elif external:
        external = str(external)[:128]
        origin["trace_id"] = (external.lower() if HEX_TRACE_ID.match(external) and int(external, 16)
                              else hashlib.sha256(external.encode()).hexdigest()[:32])
    else:
        origin["trace_id"] = f"{_random_id(128):032x}"
    if external:
        origin["external_trace_id"] = str(external)[:128]
    return origin


def _random_id(bits: int) -> int:
    value = 0
    while not value:
        value = random.getrandbits(bits)
    return value


class Tracing:
    """Per process (built in wiring): whether runs are traced, and how content is treated. The tracer is made
    on first use, so a forked process builds its own export thread."""

    def __init__(self, factory: Callable[[], Tracer] | None = None, *, content: bool = False,
                 content_limit: int = 2000) -> None:
        self._factory = factory
        self._tracer: Tracer | None = None
        self._lock = threading.Lock()
        self.content = content
        self.content_limit = content_limit

    @property
    def enabled(self) -> bool:
        return self._factory is not None

    @property
    def tracer(self) -> Tracer:
        with self._lock:
            if self._tracer is None:
                assert self._factory is not None
                self._tracer = self._factory()
            return self._tracer

    def close(self) -> None:
        """Flush and stop the export thread, if one was started (bounded by the export timeout)."""
        with self._lock:
            tracer, self._tracer = self._tracer, None
        if tracer is not None:
            tracer.shutdown()

    def origin(self, headers: Mapping[str, str], body_trace_id: str | None) -> dict[str, Any] | None:
        """The `trace` field of a new run (None when tracing is off); binds `trace_id` to the request's logs."""
        if not self.enabled:
            return None
        origin = trace_origin(headers, body_trace_id)
        set_context(trace_id=origin["trace_id"], span_id=origin["span_id"])
        return origin

    def attempt(self, run: WorkflowRun, environment: Mapping[str, Any], secret_names: set[str] | frozenset[str],
                attempt: int, resumed: bool, restored: int = 0) -> RunTrace | NoTrace:
        """The spans of one attempt at `run`. `environment`/`secret_names` are the workflow's, for masking."""
        if not self.enabled:
            return NO_TRACE
        masker = Masker(v for k, v in environment.items() if k in secret_names)
        return RunTrace(self, run, masker, attempt, resumed, restored)


class NoTrace:
    """Tracing off: every wrapper hands back what it was given."""

    def llm(self, gateway: LLMGateway) -> LLMGateway:
        return gateway

    def services(self, services: NodeServices) -> NodeServices:
        return services

    def sink(self, emit: Callable[[Any], None]) -> Callable[[Any], None]:
        return emit

    def finish(self, run: WorkflowRun, outcome: RunOutcome) -> None:
        return None

    def bound(self) -> AbstractContextManager[None]:
        return nullcontext()


NO_TRACE = NoTrace()


class RunTrace:
    """The spans of one attempt. Thread-safe: branch threads report their nodes concurrently."""

    def __init__(self, tracing: Tracing, run: WorkflowRun, masker: Masker, attempt: int, resumed: bool,
                 restored: int) -> None:
        origin = run.trace or trace_origin({}, None)  # a run queued while tracing was off gets its own trace
        self._tracing, self._tracer, self._masker = tracing, tracing.tracer, masker
        self.root = SpanRef(int(origin["trace_id"], 16), int(origin["span_id"], 16))
        parent = origin.get("parent_span_id")
        self._client_parent = SpanRef(self.root.trace_id, int(parent, 16)) if parent else None
        self._external = origin.get("external_trace_id")
        self._attempt, self._resumed = attempt, resumed
        self._lock = threading.Lock()
        self._open: dict[str, Any] = {}  # execution id -> span
        self._containers: dict[str, SpanRef] = {}  # iteration/loop node id -> its span
        self.common = {"trellis.run.id": run.id, "trellis.run.attempt": attempt,
                       "trellis.run.resumed": resumed or None}
        if resumed:
            self._tracer.start("workflow_run.resume", self.root, attributes={
                **self.common, "trellis.run.restored_nodes": restored,
                "openinference.span.kind": "CHAIN"}).end()

    @contextmanager
    def bound(self) -> Iterator[None]:
        """Log lines inside carry the run's `trace_id` and root `span_id` (a node's span while it runs); no
        node span of an earlier run on this thread is taken for a parent."""
        token = _node_span.set(None)
        try:
            with bind(trace_id=self.root.trace_hex, span_id=self.root.span_hex):
                yield
        finally:
            _node_span.reset(token)

    # -- wrappers handed to the engine ------------------------------------------------------------------------

    def llm(self, gateway: LLMGateway) -> LLMGateway:
        return trace_spans.TracedLLM(gateway, self)

    def services(self, services: NodeServices) -> NodeServices:
        tools = trace_spans.TracedTools(services.tools, self) if services.tools is not None else None
        http = trace_spans.TracedHttp(services.http, self) if services.http is not None else None
        return dataclasses.replace(services, tools=tools, http=http,
                                   retriever=trace_spans.TracedRetriever(services.retriever, self))

    def sink(self, emit: Callable[[Any], None]) -> Callable[[Any], None]:
        def traced(event: Any) -> None:
            try:
                self.observe(event)
            except Exception:  # tracing must never fail a run: a span lost is logged, the event goes on
                log.warning("could not trace a node event", exc_info=True)
            emit(event)

        return traced

    # -- spans ------------------------------------------------------------------------------------------------

    def current(self) -> SpanRef:
        """The span new work on this thread belongs to: the running node's, else the run's root."""
        return _node_span.get() or self.root

    def child(self, name: str, attributes: Mapping[str, Any]) -> Any:
        return self._tracer.start(name, self.current(), attributes={**self.common, **attributes})

    def content(self, value: Any) -> str | None:
        """`value` as span content: None unless TRACE_CONTENT; secrets and key-shaped strings masked, cut."""
        if not self._tracing.content or value is None:
            return None
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        cut = truncate(mask_keys(self._masker.mask(text)), self._tracing.content_limit)
        return cut if isinstance(cut, str) else json.dumps(cut, ensure_ascii=False)

    def observe(self, event: Any) -> None:
        if isinstance(event, NodeStarted):
            self._started(event.record)
        elif isinstance(event, NodeFinished):
            self._finished(event.record)

    def _started(self, record: NodeRecord) -> None:
        meta = record.metadata or {}
        container = meta.get("iteration_id") or meta.get("loop_id")
        with self._lock:
            parent = self._containers.get(str(container)) if container else None
        span = self._tracer.start(record.title or record.node_type, parent or self.root,
                                  start_ns=_ns(record.started_at), attributes=self._node_attributes(record))
        with self._lock:
            self._open[record.execution_id] = span
            if record.node_type in ("iteration", "loop"):
                self._containers[record.node_id] = span.ref
        # Runs on the node's own thread, inside the runner's per-node log binding.
        _node_span.set(span.ref)
        set_context(trace_id=span.ref.trace_hex, span_id=span.ref.span_hex)

    def _finished(self, record: NodeRecord) -> None:
        with self._lock:
            span = self._open.pop(record.execution_id, None)
        if span is None:  # finished without a start event (a node stopped before it began)
            span = self._tracer.start(record.title or record.node_type, self.root, start_ns=_ns(record.started_at),
                                      attributes=self._node_attributes(record))
        span.set({"trellis.node.status": str(record.status), "trellis.node.elapsed_time": record.elapsed_time,
                  "trellis.node.total_tokens": record.total_tokens,
                  "trellis.node.retry_count": (record.metadata or {}).get("retry_count"),
                  "trellis.node.error": mask_keys(record.error) if record.error else None,
                  "input.value": self.content(record.inputs), "output.value": self.content(record.outputs)})
        failed = record.status in (NodeStatus.failed, NodeStatus.exception)
        span.end(end_ns=_ns(record.finished_at) or None,
                 error=mask_keys(record.error or "node failed") if failed else None)

    def _node_attributes(self, record: NodeRecord) -> dict[str, Any]:
        meta = record.metadata or {}
        return {**self.common, "openinference.span.kind": "CHAIN", "trellis.node.id": record.node_id,
                "trellis.node.type": record.node_type, "trellis.node.title": record.title,
                "trellis.node.execution_id": record.execution_id, "trellis.node.index": record.index,
                "trellis.node.predecessor_id": record.predecessor_node_id,
                "trellis.iteration.index": meta.get("iteration_index"), "trellis.loop.index": meta.get("loop_index")}

    def finish(self, run: WorkflowRun, outcome: RunOutcome) -> None:
        """Emit the run's root span (once: only the attempt that wrote the outcome calls this). Never raises."""
        try:
            self._root(run, outcome)
        except Exception:  # the run is already written; a lost root span must not turn it into a crash
            log.warning("could not trace a run's end", exc_info=True)

    def _root(self, run: WorkflowRun, outcome: RunOutcome) -> None:
        created = as_utc(run.created_at)
        error = mask_keys(outcome.error) if outcome.error and str(outcome.status) in ("failed", "stopped") else None
        span = self._tracer.start("workflow_run", self._client_parent, pin=self.root,
                                  start_ns=int(created.timestamp() * 1e9) if created else None, attributes={
                                      **self.common, "openinference.span.kind": "CHAIN",
                                      "trellis.run.attempts": self._attempt, "trellis.app.id": run.app_id,
                                      "trellis.workspace.id": run.workspace_id,
                                      "trellis.run.status": str(outcome.status),
                                      "trellis.run.total_tokens": outcome.total_tokens,
                                      "trellis.run.total_steps": outcome.total_steps,
                                      "trellis.external_trace_id": self._external,
                                      "input.value": self.content(run.inputs),
                                      "output.value": self.content(outcome.outputs)})
        span.end(error=error)


def _ns(seconds: float) -> int:
    return int(seconds * 1e9) if seconds else 0


def tracing_from(settings: Settings) -> Tracing:
    """Tracing as the OTEL_* settings ask: off (no tracer ever built) without an endpoint or with
    OTEL_SDK_DISABLED."""
    from app import __version__
    from app.providers.tracing import ExportConfig, OtelTracer, parse_headers, traces_url

    url = traces_url(settings.otel_exporter_otlp_endpoint, settings.otel_exporter_otlp_traces_endpoint)
    if url is None or settings.otel_sdk_disabled:
        return Tracing(None)
    headers = settings.otel_exporter_otlp_headers
    config = ExportConfig(traces_url=url, headers=parse_headers(headers.get_secret_value() if headers else None),
                          service_name=settings.otel_service_name, service_version=__version__,
                          timeout_seconds=settings.otel_exporter_otlp_timeout,
                          schedule_delay_ms=settings.otel_bsp_schedule_delay)
    return Tracing(lambda: OtelTracer(config), content=settings.trace_content,
                   content_limit=settings.audit_field_limit)
