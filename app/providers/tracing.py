"""OpenTelemetry export: the tracer provider (resource, batch span processor, OTLP/HTTP exporter) behind a small
`Tracer` port that opens spans with an explicit parent, explicit start and end times and, for a run's root span
whose ids the API reserved before the run was queued, pinned ids.

Off unless an OTLP endpoint is configured: then nothing here is built and the SDK is never imported. When on,
spans are handed to the batch processor's bounded queue and exported from its own thread, so a slow or dead
collector only drops spans; it never blocks or fails the caller. Imports nothing from the engine, services or api.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 3.0  # at most this long flushing queued spans when a process stops

# Set only around the start of a span whose ids were reserved earlier (a run's root span).
_pinned: contextvars.ContextVar[SpanRef | None] = contextvars.ContextVar("trellis_pinned_span", default=None)


@dataclass(frozen=True)
class SpanRef:
    """A span's identity: enough to parent another span to it, in this process or another."""

    trace_id: int
    span_id: int

    @property
    def trace_hex(self) -> str:
        return f"{self.trace_id:032x}"

    @property
    def span_hex(self) -> str:
        return f"{self.span_id:016x}"

    @property
    def traceparent(self) -> str:
        """The W3C `traceparent` header value naming this span as the parent."""
        return f"00-{self.trace_hex}-{self.span_hex}-01"


class Span(Protocol):
    ref: SpanRef

    def set(self, attributes: Mapping[str, Any]) -> None:
        """Add attributes (None values are dropped)."""
        ...

    def end(self, end_ns: int | None = None, error: str | None = None) -> None:
        """Close the span (at `end_ns`, else now); `error` marks it failed with that description."""
        ...


class Tracer(Protocol):
    def start(self, name: str, parent: SpanRef | None, *, start_ns: int | None = None,
              attributes: Mapping[str, Any] | None = None, pin: SpanRef | None = None) -> Span:
        """Open a span under `parent` (a new trace when None). With `pin`, the span takes exactly those ids."""
        ...

    def shutdown(self) -> None:
        """Flush what is queued (bounded by the export timeout) and stop the export thread."""
        ...


@dataclass(frozen=True)
class ExportConfig:
    """Where and how spans leave the process (from the standard OTEL_* settings)."""

    traces_url: str
    headers: Mapping[str, str]
    service_name: str = "trellis"
    service_version: str = ""
    timeout_seconds: float = 10.0
    schedule_delay_ms: int = 5000
    max_queue_size: int = 2048


def traces_url(endpoint: str | None, traces_endpoint: str | None) -> str | None:
    """The OTLP/HTTP traces URL: the signal-specific endpoint as given, else the base endpoint + `/v1/traces`
    (the OTLP exporter specification's rule). None when neither is set (tracing off)."""
    if traces_endpoint:
        return traces_endpoint
    if endpoint:
        return endpoint.rstrip("/") + "/v1/traces"
    return None


def parse_headers(raw: str | None) -> dict[str, str]:
    """`OTEL_EXPORTER_OTLP_HEADERS`: `key=value` pairs, comma-separated, URL-encoded values."""
    if not raw:
        return {}
    from opentelemetry.util.re import parse_env_headers

    return dict(parse_env_headers(raw, liberal=True))


def _clean(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (attributes or {}).items() if v is not None}


class _OtelSpan:
    def __init__(self, span: Any) -> None:
        self._span = span
        ctx = span.get_span_context()
        self.ref = SpanRef(ctx.trace_id, ctx.span_id)

    def set(self, attributes: Mapping[str, Any]) -> None:
        self._span.set_attributes(_clean(attributes))

    def end(self, end_ns: int | None = None, error: str | None = None) -> None:
        if error is not None:
            from opentelemetry.trace import Status, StatusCode

            self._span.set_status(Status(StatusCode.ERROR, error))
        self._span.end(end_time=end_ns)


class OtelTracer:
    """The `Tracer` over the OpenTelemetry SDK: its own TracerProvider (not the global one), every span
    sampled, exported in batches over OTLP/HTTP (protobuf)."""

    def __init__(self, config: ExportConfig, exporter: Any = None) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
        from opentelemetry.sdk.trace.sampling import ALWAYS_ON

        class PinnedIds(RandomIdGenerator):
            # The SDK asks its id generator for new ids; a pinned span answers with the reserved ones.
            def generate_span_id(self) -> int:
                pin = _pinned.get()
                return pin.span_id if pin else super().generate_span_id()

            def generate_trace_id(self) -> int:
                pin = _pinned.get()
                return pin.trace_id if pin else super().generate_trace_id()

        resource = Resource.create(_clean({"service.name": config.service_name,
                                           "service.version": config.service_version or None}))
        # No exit hook: at exit a dead collector would hold the process for the export timeout; `shutdown`
        # flushes within a short grace instead.
        self._provider = TracerProvider(resource=resource, sampler=ALWAYS_ON, id_generator=PinnedIds(),
                                        shutdown_on_exit=False)
        self._grace = min(config.timeout_seconds, SHUTDOWN_GRACE_SECONDS)
        exporter = exporter or OTLPSpanExporter(endpoint=config.traces_url, headers=dict(config.headers),
                                                timeout=config.timeout_seconds)
        self._provider.add_span_processor(BatchSpanProcessor(
            exporter, max_queue_size=config.max_queue_size, schedule_delay_millis=config.schedule_delay_ms,
            export_timeout_millis=int(config.timeout_seconds * 1000)))
        self._tracer = self._provider.get_tracer("trellis")

    def start(self, name: str, parent: SpanRef | None, *, start_ns: int | None = None,
              attributes: Mapping[str, Any] | None = None, pin: SpanRef | None = None) -> Span:
        from opentelemetry import trace
        from opentelemetry.context import Context

        context = Context()
        if parent is not None:
            remote = trace.SpanContext(parent.trace_id, parent.span_id, is_remote=True,
                                       trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED))
            context = trace.set_span_in_context(trace.NonRecordingSpan(remote), context)
        token = _pinned.set(pin) if pin is not None else None
        try:
            span = self._tracer.start_span(name, context=context, attributes=_clean(attributes),
                                           start_time=start_ns)
        finally:
            if token is not None:
                _pinned.reset(token)
        return _OtelSpan(span)

    def flush(self, timeout_seconds: float = 10.0) -> bool:
        return bool(self._provider.force_flush(int(timeout_seconds * 1000)))

    def shutdown(self) -> None:
        # The SDK's shutdown waits for the last export, retries included; bound it and let a daemon thread
        # finish (or be dropped at exit) on its own.
        closer = threading.Thread(target=self._provider.shutdown, name="otel-shutdown", daemon=True)
        closer.start()
        closer.join(self._grace)
