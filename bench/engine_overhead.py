"""Engine overhead in process: the real GraphRunner over the benchmark flows, with no-op ports."""

from __future__ import annotations

import time

from app.engine.dsl import parse_dsl
from app.engine.graph import build_graph
from app.engine.ports import EnginePorts
from app.engine.runner import GraphRunner
from app.providers.llm import UnconfiguredLLM
from bench import flows
from bench.measure import median, pct


def engine_overhead(runs: int) -> list[str]:
    lines = ["| flow | nodes | median µs per run | p95 µs | µs per node |", "|---|---|---|---|---|"]
    for label, dsl in [("start -> template -> end", flows.template_flow()), ("10-node linear", flows.linear_flow()),
                       ("3-way parallel", flows.parallel_flow())]:
        doc = parse_dsl(dsl)
        graph = build_graph(doc.workflow)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            outcome = GraphRunner(graph, EnginePorts(llm=UnconfiguredLLM(), emit=lambda e: None)).run({"q": "hi"})
            times.append((time.perf_counter() - started) * 1e6)
            assert outcome.status == "succeeded", outcome.error
        nodes = len(graph.nodes)
        lines.append(f"| {label} | {nodes} | {median(times):.0f} | {pct(times, 0.95):.0f} | "
                     f"{median(times) / nodes:.0f} |")
    return lines
