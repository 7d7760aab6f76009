"""Prometheus metrics of Trellis: every metric name and label set in one place, plus the scrape-time collector
that reads queue depth from Huey and the run table.

The metric objects live in one process-wide holder built on first use by `metrics()`, not at import (STYLE
rule 1), and never per app: prometheus_client registers each metric in its global registry and, under
multi-process gunicorn, names the per-process sample files after it, so a second instance would clash (every
test builds an app). Labels are bounded: app ids, node types, model names, route templates and status codes;
never run, task, user, dataset or document ids.

Gauges written by several processes declare a multi-process mode (`livesum` for in-flight counts, `max` for
ratios) so `/metrics` aggregates them correctly when PROMETHEUS_MULTIPROC_DIR is set.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 600.0)
RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0)
LLM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)


@dataclass(frozen=True)
class Metrics:
    http_requests: Counter
    http_latency: Histogram
    runs_finished: Counter
    run_latency: Histogram
    node_latency: Histogram
    active_runs: Gauge
    queue_wait: Histogram
    llm_calls: Counter
    llm_latency: Histogram
    llm_ttft: Histogram
    llm_tokens: Counter
    llm_cost: Counter
    leases_lost: Counter
    runs_reaped: Counter
    worker_heartbeats: Counter
    worker_last_heartbeat: Gauge
    worker_busy_slots: Gauge
    worker_slots: Gauge
    budget_used_ratio: Gauge
    budget_exceeded: Counter
    audit_dropped: Counter
    embedding_calls: Counter
    embedding_tokens: Counter
    embedding_cost: Counter
    documents_indexed: Counter
    segments_indexed: Counter
    indexing_latency: Histogram


_BUILD_LOCK = threading.Lock()


def metrics() -> Metrics:
    """The process's metric objects, registered in prometheus_client's default registry on first call.
    Thread-safe: a gunicorn thread pool's first requests arrive together, and a second registration of a name
    raises (in multi-process mode every construction writes files, so that race is all but certain)."""
    with _BUILD_LOCK:
        return _build()


@functools.cache
def _build() -> Metrics:
    return Metrics(
        http_requests=Counter("trellis_http_requests", "HTTP requests served", ["method", "route", "status"]),
        http_latency=Histogram("trellis_http_request_duration_seconds", "HTTP request latency until the response "
                               "object is ready (a stream's body is not included)", ["method", "route"],
                               buckets=HTTP_BUCKETS),
        runs_finished=Counter("trellis_runs_finished", "Workflow runs that reached a final status",
                              ["app", "status"]),
        run_latency=Histogram("trellis_run_duration_seconds", "Run latency from creation to final status",
                              ["app"], buckets=RUN_BUCKETS),
        node_latency=Histogram("trellis_node_duration_seconds", "Node execution latency", ["node_type", "status"],
                               buckets=RUN_BUCKETS),
        active_runs=Gauge("trellis_active_runs", "Runs executing now", ["app"], multiprocess_mode="livesum"),
        queue_wait=Histogram("trellis_queue_wait_seconds", "Time from enqueue to a worker starting the run",
                             buckets=RUN_BUCKETS),
        llm_calls=Counter("trellis_llm_calls", "LLM calls", ["app", "provider", "model", "outcome"]),
        llm_latency=Histogram("trellis_llm_request_duration_seconds", "LLM call latency (whole completion)",
                              ["app", "model"], buckets=LLM_BUCKETS),
        llm_ttft=Histogram("trellis_llm_time_to_first_token_seconds", "LLM time to first streamed token",
                           ["app", "model"], buckets=LLM_BUCKETS),
        llm_tokens=Counter("trellis_llm_tokens", "LLM tokens", ["app", "model", "kind"]),
        llm_cost=Counter("trellis_llm_cost", "LLM cost from the price table", ["app", "model", "currency"]),
        leases_lost=Counter("trellis_leases_lost", "Leases a worker lost while holding a run (expired or taken)"),
        runs_reaped=Counter("trellis_runs_reaped", "Runs the reaper swept after a lease expiry or a lost message",
                            ["outcome"]),
        worker_heartbeats=Counter("trellis_worker_heartbeats", "Lease heartbeat passes of this worker"),
        worker_last_heartbeat=Gauge("trellis_worker_last_heartbeat_timestamp_seconds",
                                    "Unix time of the last heartbeat pass", multiprocess_mode="max"),
        worker_busy_slots=Gauge("trellis_worker_busy_slots", "Worker threads executing a run",
                                multiprocess_mode="livesum"),
        worker_slots=Gauge("trellis_worker_slots", "Worker threads available for runs", multiprocess_mode="livesum"),
        budget_used_ratio=Gauge("trellis_budget_used_ratio", "Share of an app's monthly budget used (0.8 warns)",
                                ["app", "kind"], multiprocess_mode="max"),
        budget_exceeded=Counter("trellis_budget_rejections", "Runs refused because an app's budget is spent",
                                ["app"]),
        audit_dropped=Counter("trellis_audit_dropped", "Audit records dropped (buffer full or write failed)"),
        # Embeddings of an endpoint (indexing and retrieval queries); app is empty outside a run.
        embedding_calls=Counter("trellis_embedding_calls", "Embedding endpoint calls", ["app", "model", "outcome"]),
        embedding_tokens=Counter("trellis_embedding_tokens", "Embedded tokens", ["app", "model"]),
        embedding_cost=Counter("trellis_embedding_cost", "Embedding cost from the price table",
                               ["app", "model", "currency"]),
        documents_indexed=Counter("trellis_documents_indexed", "Documents whose indexing attempt ended",
                                  ["status"]),
        segments_indexed=Counter("trellis_segments_indexed", "Segments (chunks) written by completed indexing"),
        indexing_latency=Histogram("trellis_indexing_duration_seconds", "One document's indexing attempt, from "
                                   "claim to its end", ["status"], buckets=RUN_BUCKETS),
    )


def timed() -> Callable[[], float]:
    """A stopwatch: call the returned function for the seconds elapsed since `timed()`."""
    start = time.perf_counter()
    return lambda: time.perf_counter() - start


class QueueCollector(Collector):
    """Queue depth read at scrape time: Huey's pending and scheduled messages and runs by status in the
    database. `probe` returns {"pending": n, "scheduled": n, "runs": {status: n}, "oldest_queued_age": s,
    "paused": {queue: bool}}."""

    def __init__(self, probe: Callable[[], dict[str, Any]]) -> None:
        self._probe = probe

    def collect(self) -> Iterable[Metric]:
        try:
            snap = self._probe()
        except Exception:  # a scrape must not fail because the queue is down; `up`/ready shows that
            log.warning("queue probe failed during scrape", exc_info=True)
            return []
        depth = GaugeMetricFamily("trellis_queue_depth", "Messages in the task queue", labels=["state"])
        depth.add_metric(["pending"], snap.get("pending", 0))
        depth.add_metric(["scheduled"], snap.get("scheduled", 0))
        runs = GaugeMetricFamily("trellis_runs_by_status", "Runs in the database by status (non-final)",
                                 labels=["status"])
        for status, count in sorted(snap.get("runs", {}).items()):
            runs.add_metric([status], count)
        oldest = GaugeMetricFamily("trellis_queue_oldest_age_seconds", "Age of the oldest queued run")
        oldest.add_metric([], snap.get("oldest_queued_age", 0.0))
        paused = GaugeMetricFamily("trellis_queue_paused", "1 while an operator has paused the queue",
                                   labels=["queue"])
        for queue, is_paused in sorted(snap.get("paused", {}).items()):
            paused.add_metric([queue], 1.0 if is_paused else 0.0)
        return [depth, runs, oldest, paused]

    def describe(self) -> Iterator[Metric]:
        return iter(())


def exposition(probe: Callable[[], dict[str, Any]] | None = None) -> bytes:
    """The text exposition for `/metrics`: this process's metrics (or every gunicorn worker's, aggregated, in
    multi-process mode) followed by the scrape-time queue metrics when `probe` is given."""
    metrics()  # register everything so a fresh process still exposes every family
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    if probe is not None:
        extra = CollectorRegistry(auto_describe=False)
        extra.register(QueueCollector(probe))
        body += generate_latest(extra)
    return body
