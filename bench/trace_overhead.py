"""The cost of tracing (issue 17), off vs on, in one process: the real GraphRunner with its ports wrapped by a
run trace (orchestration overhead per run), and whole runs through the real executor on embedded SQLite
(runs/s). "On" exports every span over OTLP/HTTP to a local collector that accepts and discards them, so the
SDK's span building, batching, protobuf encoding and HTTP all happen. Rounds alternate off/on (ABBA).

    .venv/bin/python -m bench.trace_overhead      # prints a Markdown table for docs/benchmarks.md
"""

from __future__ import annotations

import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from app.engine.dsl import parse_dsl
from app.engine.graph import build_graph
from app.engine.ports import EnginePorts
from app.engine.runner import GraphRunner
from app.models import WorkflowRun
from app.models.base import utcnow
from app.providers.llm import UnconfiguredLLM
from app.providers.tracing import ExportConfig, OtelTracer
from app.services.run_trace import Tracing, trace_origin
from bench import flows
from bench.measure import median

ROUNDS = 4


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


def collector() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def engine_runs(graph: Any, tracing: Tracing, runs: int) -> list[float]:
    """Microseconds per run of the runner alone, its ports wrapped as the executor wraps them."""
    times = []
    for _ in range(runs):
        run = WorkflowRun(id="bench", app_id="a", workspace_id="w", inputs={}, trace=trace_origin({}, None),
                          created_at=utcnow())
        started = time.perf_counter()
        trace = tracing.attempt(run, {}, frozenset(), attempt=1, resumed=False)
        ports = EnginePorts(llm=trace.llm(UnconfiguredLLM()), emit=trace.sink(lambda e: None))
        outcome = GraphRunner(graph, ports).run({"q": "hi"})
        trace.finish(run, outcome)
        times.append((time.perf_counter() - started) * 1e6)
    return times


def executor_runs_per_second(dsl: str, endpoint: str | None, runs: int) -> float:
    """Whole runs (submit, queue in immediate mode, execute, write) on a fresh embedded container."""
    from app.db import upgrade_schema
    from app.services.accounts import AppPrincipal
    from app.settings import Settings
    from app.wiring import build
    from worker.runtime import build_runtime

    with tempfile.TemporaryDirectory() as home:
        settings = Settings(_env_file=None, trellis_home=Path(home),  # type: ignore[call-arg]
                            otel_exporter_otlp_endpoint=endpoint, otel_bsp_schedule_delay=200)
        settings.ensure_home()
        upgrade_schema(settings.sqlalchemy_url)
        holder: dict[str, Any] = {}
        container = build(settings, runtime=lambda: holder["runtime"])
        holder["runtime"] = build_runtime(container)
        container.huey.immediate = True  # the task runs at enqueue, in this thread: no consumer to wait for
        try:
            workspace = container.accounts.default_workspace_id()
            app = container.apps.import_dsl(workspace, dsl)
            who = AppPrincipal(workspace, app.id, "k")
            started = time.perf_counter()
            for _ in range(runs):
                trace = container.tracing.origin({}, None)
                container.runs.submit(who, {"q": "hi"}, "u", "blocking", trace=trace)
            return runs / (time.perf_counter() - started)
        finally:
            container.close()


def main() -> None:
    server, endpoint = collector()
    lines = ["| measure | flow | off | on | on/off |", "|---|---|---|---|---|"]
    for label, dsl in [("10-node linear", flows.linear_flow()), ("3-way parallel", flows.parallel_flow())]:
        graph = build_graph(parse_dsl(dsl).workflow)
        tracer = OtelTracer(ExportConfig(traces_url=f"{endpoint}/v1/traces", headers={}, schedule_delay_ms=200))
        modes = {"off": Tracing(None), "on": Tracing(lambda t=tracer: t)}
        results: dict[str, list[float]] = {"off": [], "on": []}
        for mode in ["off", "on", "on", "off"] * (ROUNDS // 4 or 1):
            results[mode] += engine_runs(graph, modes[mode], 300)
        tracer.shutdown()
        off, on = median(results["off"]), median(results["on"])
        lines.append(f"| engine µs per run (median) | {label} | {off:.0f} | {on:.0f} | {on / off:.2f} |")
        rates: dict[str, list[float]] = {"off": [], "on": []}
        for mode in ["off", "on", "on", "off"]:
            rates[mode].append(executor_runs_per_second(dsl, endpoint if mode == "on" else None, 100))
        off_r, on_r = median(rates["off"]), median(rates["on"])
        lines.append(f"| executor runs/s (embedded SQLite, median) | {label} | {off_r:.0f} | {on_r:.0f} | "
                     f"{on_r / off_r:.2f} |")
    server.shutdown()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
