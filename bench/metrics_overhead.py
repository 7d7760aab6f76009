"""What metrics and audit cost on the production path: requests/s and latency of a cheap authenticated
GET and of blocking orchestration-only runs, with METRICS_ENABLED and AUDIT_ENABLED both on, then both off.

The two settings are read at start, so each round is a fresh stack on the same database. Rounds alternate
on/off in an ABBA order so that drift (another benchmark starting, the database growing) falls on both sides;
the report gives the median of the rounds and the ratio off/on.

Usage: python -m bench.metrics_overhead [--rounds 3] [--seconds 10] [--quick] [--out docs/benchmarks.md]"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench import flows
from bench.backends import backends
from bench.measure import Sample, median, pct, requests_for, runs_for
from bench.report import DOC, replace_section
from bench.run import provision
from bench.stack import Stack, running_stack

TITLE = "Metrics and audit overhead"
GET_PATH = "/v1/parameters"


@dataclass
class Rounds:
    """The samples of one load under one setting, a sample per round, with the API processes' CPU time per
    request in each (less sensitive to the other tenants of the machine than requests/s)."""

    samples: list[Sample] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)

    def add(self, sample: Sample, cpu_seconds: float) -> None:
        self.samples.append(sample)
        self.cpu_ms.append(cpu_seconds * 1000 / max(1, len(sample.latencies) + sample.errors))

    def cpu(self) -> float:
        return median(self.cpu_ms)

    def rate(self) -> float:
        return median([s.rate for s in self.samples])

    def p50_ms(self) -> float:
        return median([median(s.latencies) * 1000 for s in self.samples])

    def p95_ms(self) -> float:
        return median([pct(s.latencies, 0.95) * 1000 for s in self.samples])

    def errors(self) -> int:
        return sum(s.errors for s in self.samples)

    def rates(self) -> str:
        return ", ".join(f"{s.rate:.0f}" for s in self.samples)


def order(rounds: int) -> Iterator[bool]:
    """on, off, off, on, on, off, ...: every setting runs first as often as second."""
    for i in range(rounds):
        yield from ((True, False) if i % 2 == 0 else (False, True))


def api_cpu_seconds(stack: Stack) -> float:
    """User + system CPU time so far of the stack's API worker processes (the gunicorn master only supervises)."""
    import psutil

    total = 0.0
    for role, pid in stack.processes().items():
        if role.startswith("api ") and role != "api master":
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


def measure_round(home: Path, env: dict[str, str], enabled: bool, workers: int, clients: int, run_clients: int,
                  seconds: float) -> dict[str, tuple[Sample, float]]:
    """One stack with metrics and audit both `enabled` or both not: for the GET load and the runs load, the
    sample and the API processes' CPU seconds spent on it."""
    flag = "true" if enabled else "false"
    with running_stack(home, {**env, "METRICS_ENABLED": flag, "AUDIT_ENABLED": flag}, workers=workers) as stack:
        headers = provision(stack.base_url, flows.template_flow())
        # Warm-up: connections, the key and app caches, the first run of each process.
        requests_for(stack.base_url, GET_PATH, headers, clients, min(1.0, seconds / 4))
        runs_for(stack.base_url, headers, {"q": "hi"}, run_clients, min(1.0, seconds / 4))
        measured = {}
        for key, load in (("get", lambda: requests_for(stack.base_url, GET_PATH, headers, clients, seconds)),
                          ("run", lambda: runs_for(stack.base_url, headers, {"q": "hi"}, run_clients, seconds))):
            cpu = api_cpu_seconds(stack)
            sample = load()
            measured[key] = (sample, api_cpu_seconds(stack) - cpu)
    return measured


def metrics_overhead(env: dict[str, str], rounds: int = 3, clients: int = 16, run_clients: int = 8,
                     seconds: float = 10.0, workers: int = 2) -> list[str]:
    """Interleaved rounds with metrics+audit on and off, `workers` worker processes; the report section's lines.
    `env` picks the backends (bench.backends)."""
    results: dict[tuple[str, bool], Rounds] = {}
    with tempfile.TemporaryDirectory(prefix="trellis-overhead-") as tmp:
        for enabled in order(rounds):
            measured = measure_round(Path(tmp) / "home", env, enabled, workers, clients, run_clients, seconds)
            for key, (sample, cpu) in measured.items():
                results.setdefault((key, enabled), Rounds()).add(sample, cpu)
    loads = [("get", f"GET {GET_PATH}, {clients} clients"), ("run", f"blocking start -> template -> end, "
                                                                   f"{run_clients} clients")]
    lines = [f"{rounds} rounds per setting, alternated on/off (ABBA), {seconds:.0f} s of load per round, each on a "
             "fresh stack; medians of the rounds. `on` is the default (METRICS_ENABLED and AUDIT_ENABLED true). "
             "API CPU ms/req is the user + system time of the API processes divided by the requests served: "
             "unlike requests/s it hardly moves when other tenants of the machine take the cores.", "",
             "| load | metrics + audit | req/s | p50 ms | p95 ms | API CPU ms/req | errors | req/s per round |",
             "|---|---|---|---|---|---|---|---|"]
    for key, label in loads:
        for enabled in (True, False):
            r = results[(key, enabled)]
            lines.append(f"| {label} | {'on' if enabled else 'off'} | {r.rate():.1f} | {r.p50_ms():.1f} | "
                         f"{r.p95_ms():.1f} | {r.cpu():.2f} | {r.errors()} | {r.rates()} |")
    lines.append("")
    for key, label in loads:
        on, off = results[(key, True)], results[(key, False)]
        ratio = off.rate() / on.rate() if on.rate() else float("nan")
        cpu = (on.cpu() / off.cpu() - 1) * 100 if off.cpu() else float("nan")
        lines.append(f"- {label}: requests/s off/on {ratio:.2f}; API CPU per request {on.cpu():.2f} ms on vs "
                     f"{off.cpu():.2f} ms off ({cpu:+.0f}% with metrics + audit); p50 {on.p50_ms():.1f} ms on vs "
                     f"{off.p50_ms():.1f} ms off.")
    return lines


def bench_section(quick: bool, rounds: int = 3, seconds: float = 10.0, clients: int = 16) -> list[str]:
    """Measure on the production path (quick: one 1 s round each, embedded backends); the section's lines."""
    with backends(quick) as env:
        if quick:
            return metrics_overhead(env, 1, 4, 2, 1.0, workers=1)
        return metrics_overhead(env, rounds, clients, seconds=seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="1 round of 1 s on embedded backends")
    parser.add_argument("--out", default=str(DOC))
    args = parser.parse_args()
    lines = bench_section(args.quick, args.rounds, args.seconds, args.clients)
    replace_section(Path(args.out), TITLE, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
