"""Product CPU per run: the user + system CPU time that the API processes (gunicorn master and workers), the
worker processes and a private Redis spend per run, read from each process's own counters. Unlike latency or
runs/s this holds on a busy machine: other tenants slow the processes down but do not add to their counters.

Flows: start -> template -> end, start -> 3 parallel templates -> end, and start -> LLM -> end against the
local OpenAI-protocol server (its own process, not counted) answering 50 and 500 tokens,
with blocking and streaming clients. Each cell is the median of several rounds;
Postgres's CPU is not counted (it is the machine's shared server).

Usage: python -m bench.product_cpu [--rounds 3] [--runs 160] [--clients 8] [--flows template,llm50,...]
                                   [--against REF] [--out docs/benchmarks.md]
With `--against REF` (a commit, tag or branch), that version runs beside this one, paired round by round, and
the table shows both: the way to measure a change on a shared machine, where two passes of one version in a row
can read far apart."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import redis

from bench import flows
from bench.measure import concurrent, median, pct
from bench.report import replace_section
from bench.run import ADMIN, llm_process, provision
from bench.stack import ROOT, Stack, free_port, running_stack, scratch_postgres

TITLE = "Product CPU per run"
LLM_LATENCY = 0.05
# name: (label, tokens the LLM server answers, DSL); the flows of one token count share a stack.
FLOWS: dict[str, tuple[str, int, Callable[[], str]]] = {
    "template": ("start -> template -> end", 50, flows.template_flow),
    "parallel": ("3-way parallel templates", 50, flows.parallel_flow),
    "llm50": ("LLM, 50 tokens", 50, flows.llm_flow),
    "llm500": ("LLM, 500 tokens", 500, flows.llm_flow),
}


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


@dataclass
class Side:
    """One stack under measurement (a source tree's processes) and the Redis only it uses."""

    stack: Stack
    redis_pid: int


def measure_round(side: Side, cell: Cell, headers: dict[str, str], mode: str, runs: int, clients: int) -> None:
    before = counters(side.stack, side.redis_pid)
    sample = concurrent(side.stack.base_url, headers, {"q": "hi"}, clients, max(1, runs // clients), mode)
    after = counters(side.stack, side.redis_pid)
    done = max(1, len(sample.latencies) + sample.errors)
    cell.api.append((after["api"] - before["api"]) * 1000 / done)
    cell.worker.append((after["worker"] - before["worker"]) * 1000 / done)
    cell.redis.append((after["redis"] - before["redis"]) * 1000 / done)
    cell.errors += sample.errors
    cell.latencies += sample.latencies


@contextmanager
def private_redis() -> Iterator[tuple[int, int]]:
    """A Redis server of its own (pid, port), so that its CPU counter holds one stack's work only."""
    port = free_port()
    server = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
                               "127.0.0.1", "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_timeout=2)
    try:
        for _ in range(100):
            try:
                if client.ping():
                    break
            except redis.RedisError:
                time.sleep(0.05)
        yield server.pid, port
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextmanager
def checkout(ref: str) -> Iterator[Path]:
    """`ref` of this repository as a detached worktree in a scratch folder, removed on exit."""
    with tempfile.TemporaryDirectory(prefix="trellis-before-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(tree), ref], cwd=ROOT, check=True)
        try:
            yield tree
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)


def measure(rounds: int = 3, runs: int = 160, clients: int = 8, flows: tuple[str, ...] = tuple(FLOWS),
            roots: tuple[Path, ...] = (ROOT,)) -> list[list[Cell]]:
    """The cells of `flows` for each source tree in `roots` (one list per tree, in order). Every tree gets its
    own stack, Redis and database, all running at once; each round measures them in turn, the order
    alternating (A B, B A, ...), so that the drift of a shared machine falls on every tree alike."""
    per_root: list[list[Cell]] = [[] for _ in roots]
    with ExitStack() as scope:
        servers = [scope.enter_context(private_redis()) for _ in roots]
        backends = [scope.enter_context(scratch_postgres(redis_url=f"redis://127.0.0.1:{port}/0"))
                    for _, port in servers]
        for words in sorted({FLOWS[name][1] for name in flows}):
            with ExitStack() as group:
                llm_url = group.enter_context(llm_process(latency=LLM_LATENCY, words=words))
                sides = []
                for root, (redis_pid, _), backend in zip(roots, servers, backends, strict=True):
                    home = Path(group.enter_context(tempfile.TemporaryDirectory(prefix="trellis-cpu-"))) / "home"
                    env = {**backend, "ADMIN_TOKEN": ADMIN, "OPENAI_API_KEY": "sk-bench", "LOG_LEVEL": "WARNING",
                           "WORKER_THREADS": "16", "GUNICORN_THREADS": "32", "OPENAI_BASE_URL": llm_url}
                    sides.append(Side(group.enter_context(running_stack(home, env, root=root)), redis_pid))
                for name in (name for name in flows if FLOWS[name][1] == words):
                    label, _, dsl = FLOWS[name]
                    headers = [provision(side.stack.base_url, dsl()) for side in sides]
                    for mode in ("blocking", "streaming"):
                        cells = [Cell(f"{label} | {mode}", [], [], []) for _ in sides]
                        for side, head in zip(sides, headers, strict=True):  # warm-up: connections, caches
                            concurrent(side.stack.base_url, head, {"q": "hi"}, clients, 2, mode)
                        for number in range(rounds):
                            order = list(zip(sides, cells, headers, strict=True))
                            for side, cell, head in (order if number % 2 == 0 else order[::-1]):
                                measure_round(side, cell, head, mode, runs, clients)
                        for kept, cell in zip(per_root, cells, strict=True):
                            kept.append(cell)
    return per_root


def bench_section(quick: bool) -> list[str]:
    if quick:
        return ["Measured on the production path only (`python -m bench.product_cpu`)."]
    return table(measure(3, 160, 8)[0], 3, 160, 8)


def _intro(rounds: int, runs: int, clients: int) -> str:
    return (f"CPU time (user + system) of the API processes, the worker process and a private Redis, from their "
            f"own counters, divided by the runs served; median of {rounds} rounds of {runs} runs from {clients} "
            f"concurrent clients, one stack (2 API processes, 1 worker) on Postgres. The LLM server "
            f"({LLM_LATENCY * 1000:.0f} ms, all tokens at once) runs as its own process and is not counted, nor "
            "is Postgres.")


def table(cells: list[Cell], rounds: int, runs: int, clients: int) -> list[str]:
    lines = [_intro(rounds, runs, clients), "",
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


def paired_table(before: list[Cell], after: list[Cell], ref: str, rounds: int, runs: int,
                 clients: int) -> list[str]:
    lines = [_intro(rounds, runs, clients) + f" Before (`{ref}`) and after ran as two stacks at once, rounds "
             "alternating between them.", "",
             "| flow | client | before ms/run | after ms/run | change | after: API / worker / Redis | "
             "after p50 / p95 ms | errors (before, after) |",
             "|---|---|---|---|---|---|---|---|"]
    for old, new in zip(before, after, strict=True):
        was, now = median(old.total()), median(new.total())
        ms = [v * 1000 for v in new.latencies]
        lines.append(f"| {new.label} | {was:.2f} | {now:.2f} | {(now - was) / was * 100:+.0f}% | "
                     f"{median(new.api):.2f} / {median(new.worker):.2f} / {median(new.redis):.2f} | "
                     f"{median(ms):.0f} / {pct(ms, 0.95):.0f} | {old.errors}, {new.errors} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=160)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--flows", default=",".join(FLOWS), help=f"some of {', '.join(FLOWS)}")
    parser.add_argument("--against", metavar="REF", help="measure that version beside this one, paired")
    parser.add_argument("--out", help="replace this section of that document (e.g. docs/benchmarks.md)")
    args = parser.parse_args()
    chosen = tuple(name.strip() for name in args.flows.split(","))
    if unknown := [name for name in chosen if name not in FLOWS]:
        parser.error(f"unknown flows {unknown}: choose among {', '.join(FLOWS)}")
    shape = (args.rounds, args.runs, args.clients)
    if args.against:
        with checkout(args.against) as before_tree:
            before, after = measure(*shape, flows=chosen, roots=(before_tree, ROOT))
        lines = paired_table(before, after, args.against, *shape)
    else:
        lines = table(measure(*shape, flows=chosen)[0], *shape)
    print("\n".join(lines))
    if args.out:
        replace_section(Path(args.out), TITLE, lines)


if __name__ == "__main__":
    main()
