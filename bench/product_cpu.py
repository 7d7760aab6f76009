"""Product CPU per run: the user + system CPU time that the API processes (gunicorn master and workers), the
worker processes and a private Redis spend per run, read from each process's own counters. Unlike latency or
runs/s this holds on a busy machine: other tenants slow the processes down but do not add to their counters.

Flows: start -> template -> end, start -> 3 parallel templates -> end, and start -> LLM -> end against the
local OpenAI-protocol server (its own process, not counted) answering 50 and 500 tokens,
with blocking and streaming clients. Each cell is the median of several rounds;
Postgres's CPU is not counted (it is the machine's shared server).

Usage: python -m bench.product_cpu [--rounds 3] [--runs 160] [--clients 8] [--out docs/benchmarks.md]"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import redis

from bench import flows
from bench.measure import concurrent, median, pct
from bench.report import replace_section
from bench.run import ADMIN, llm_process, provision
from bench.stack import Stack, free_port, running_stack, scratch_postgres

TITLE = "Product CPU per run"
LLM_LATENCY = 0.05


@dataclass
class Cell:
    """One flow and client mode: CPU ms per run by role, one value per round."""

    label: str
    api: list[float]
    worker: list[float]
    redis: list[float]
    errors: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, every run of every round

    def total(self) -> list[float]:
        return [a + w + r for a, w, r in zip(self.api, self.worker, self.redis, strict=True)]


def _cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def counters(stack: Stack, redis_pid: int) -> dict[str, float]:
    """CPU seconds so far by role: api (master and workers), worker (every worker process), redis."""
    totals = {"api": 0.0, "worker": 0.0, "redis": _cpu(redis_pid)}
    for role, pid in stack.processes().items():
        totals["api" if role.startswith("api") else "worker"] += _cpu(pid)
    return totals


def measure_cell(stack: Stack, redis_pid: int, label: str, headers: dict[str, str], mode: str, rounds: int,
                 runs: int, clients: int) -> Cell:
    cell = Cell(label, [], [], [])
    concurrent(stack.base_url, headers, {"q": "hi"}, clients, 2, mode)  # warm-up: connections, caches
    for _ in range(rounds):
        before = counters(stack, redis_pid)
        sample = concurrent(stack.base_url, headers, {"q": "hi"}, clients, max(1, runs // clients), mode)
        after = counters(stack, redis_pid)
        done = max(1, len(sample.latencies) + sample.errors)
        cell.api.append((after["api"] - before["api"]) * 1000 / done)
        cell.worker.append((after["worker"] - before["worker"]) * 1000 / done)
        cell.redis.append((after["redis"] - before["redis"]) * 1000 / done)
        cell.errors += sample.errors
        cell.latencies += sample.latencies
    return cell


def private_redis() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    server = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
                               "127.0.0.1", "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_timeout=2)
    for _ in range(100):
        try:
            if client.ping():
                break
        except redis.RedisError:
            time.sleep(0.05)
    return server, port


def measure(rounds: int = 3, runs: int = 160, clients: int = 8) -> list[Cell]:
    server, port = private_redis()
    cells: list[Cell] = []
    try:
        with scratch_postgres(redis_url=f"redis://127.0.0.1:{port}/0") as backend:
            for words in (50, 500):
                env = {**backend, "ADMIN_TOKEN": ADMIN, "OPENAI_API_KEY": "sk-bench", "LOG_LEVEL": "WARNING",
                       "WORKER_THREADS": "16", "GUNICORN_THREADS": "32"}
                with tempfile.TemporaryDirectory(prefix="trellis-cpu-") as tmp, \
                        llm_process(latency=LLM_LATENCY, words=words) as llm_url, \
                        running_stack(Path(tmp) / "home", {**env, "OPENAI_BASE_URL": llm_url}) as stack:
                    todo = [(f"LLM, {words} tokens", flows.llm_flow())]
                    if words == 50:
                        todo[:0] = [("start -> template -> end", flows.template_flow()),
                                    ("3-way parallel templates", flows.parallel_flow())]
                    for label, dsl in todo:
                        headers = provision(stack.base_url, dsl)
                        for mode in ("blocking", "streaming"):
                            cells.append(measure_cell(stack, server.pid, f"{label} | {mode}", headers, mode,
                                                      rounds, runs, clients))
    finally:
        server.terminate()
        server.wait(timeout=10)
    return cells


def bench_section(quick: bool) -> list[str]:
    if quick:
        return ["Measured on the production path only (`python -m bench.product_cpu`)."]
    return table(measure(3, 160, 8), 3, 160, 8)


def table(cells: list[Cell], rounds: int, runs: int, clients: int) -> list[str]:
    lines = [f"CPU time (user + system) of the API processes, the worker process and a private Redis, from their own "
             f"counters, divided by the runs served; median of {rounds} rounds of {runs} runs from {clients} "
             f"concurrent clients, one stack (2 API processes, 1 worker) on Postgres. The LLM server "
             f"({LLM_LATENCY * 1000:.0f} ms, all tokens at once) runs as its own process and is "
             "not counted, nor is Postgres.", "",
             "| flow | client | API ms/run | worker ms/run | Redis ms/run | product ms/run | per round | p50 ms | "
             "p95 ms | errors |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        rounds_text = ", ".join(f"{v:.1f}" for v in c.total())
        ms = [v * 1000 for v in c.latencies]
        lines.append(f"| {c.label} | {median(c.api):.2f} | {median(c.worker):.2f} | {median(c.redis):.2f} | "
                     f"{median(c.total()):.2f} | {rounds_text} | {median(ms):.0f} | {pct(ms, 0.95):.0f} | "
                     f"{c.errors} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=160)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--out", help="replace this section of that document (e.g. docs/benchmarks.md)")
    args = parser.parse_args()
    lines = table(measure(args.rounds, args.runs, args.clients), args.rounds, args.runs, args.clients)
    print("\n".join(lines))
    if args.out:
        replace_section(Path(args.out), TITLE, lines)


if __name__ == "__main__":
    main()
