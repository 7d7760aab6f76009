"""`make soak`: LLM-bound runs at a steady rate on the production path for 10 minutes, with the RSS of every API
and worker process sampled each minute. Flat memory is the goal; the section "Soak" of the report (`make soak`:
var/results/benchmarks.md, where `make bench` keeps it) gets the table and the growth from minute 1 to the end.

The driver is open-loop: a run is started every 1/rate seconds whatever the latency, on a pool of keep-alive
clients large enough to hold rate x latency runs, so a slowing server shows as latency, not as a lower rate.

Usage: python -m bench.soak [--minutes 10] [--rate 10] [--llm-ms 200] [--quick] [--out var/results/benchmarks.md]"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import flows
from bench.backends import backends
from bench.measure import Sample, error_causes, median, one_run, pct
from bench.report import DOC, replace_section
from bench.run import llm_process, provision
from bench.stack import Stack, rss_mb, running_stack

TITLE = "Soak"
# Growth from the first sample to the last below this (per process) reads as flat: allocator noise and caches
# that fill once (compiled templates, the key cache) are a few MB.
FLAT_MB = 10.0


@dataclass
class Minute:
    at: float  # minutes since the start of the load
    rss: dict[str, float]  # MB by process role
    runs: Sample  # the runs that finished in this interval
    late: int  # runs that started more than a second after their slot (the client pool was full)


@dataclass
class Soak:
    minutes: list[Minute] = field(default_factory=list)
    processes: dict[str, int] = field(default_factory=dict)


class SteadyLoad:
    """Start a blocking run every 1/rate seconds on `clients` threads; results go into the current interval."""

    def __init__(self, stack: Stack, headers: dict[str, str], rate: float, clients: int) -> None:
        self.stack, self.headers, self.rate = stack, headers, rate
        self.pool = ThreadPoolExecutor(clients)
        self.local = threading.local()
        self.lock = threading.Lock()
        self.interval, self.late = Sample(), 0
        self.stopping = threading.Event()
        self.clients: list[httpx.Client] = []

    def _client(self) -> httpx.Client:
        if not hasattr(self.local, "client"):
            self.local.client = httpx.Client(base_url=self.stack.base_url, timeout=120)
            with self.lock:
                self.clients.append(self.local.client)
        return self.local.client  # type: ignore[no-any-return]

    def _run(self, due: float) -> None:
        with self.lock:
            self.late += time.monotonic() - due > 1.0
            target = self.interval  # a run counts in the interval it started in
        one_run(self._client(), self.headers, {"q": "hi"}, "blocking", target, self.lock)

    def drive(self, seconds: float) -> None:
        """Schedule runs for `seconds` (blocks); call `take` from another thread meanwhile."""
        started = time.monotonic()
        n = 0
        while not self.stopping.is_set():
            due = started + n / self.rate
            if due - started >= seconds:
                break
            time.sleep(max(0.0, due - time.monotonic()))
            self.pool.submit(self._run, due)
            n += 1
        self.pool.shutdown(wait=True)
        for client in self.clients:
            client.close()

    def take(self) -> tuple[Sample, int]:
        """The interval so far (runs finished, errors, late starts); a new one begins."""
        with self.lock:
            done, late = self.interval, self.late
            self.interval, self.late = Sample(), 0
        return done, late


def run_soak(env: dict[str, str], minutes: float, rate: float, llm_seconds: float, workers: int = 2) -> Soak:
    """The soak itself on a fresh stack; RSS of every process once per interval (a minute, or a tenth of the
    whole when shorter than a minute, for the smoke test)."""
    interval = 60.0 if minutes >= 1 else minutes * 60 / 2
    total = minutes * 60
    result = Soak()
    with tempfile.TemporaryDirectory(prefix="trellis-soak-") as tmp, \
            llm_process(latency=llm_seconds, words=50) as llm_url, \
            running_stack(Path(tmp) / "home", {**env, "OPENAI_BASE_URL": llm_url}, workers=workers) as stack:
        headers = provision(stack.base_url, flows.llm_flow())
        result.processes = stack.processes()
        # Enough clients for rate x latency in flight with a wide margin for slow spells of the shared machine.
        load = SteadyLoad(stack, headers, rate, max(32, int(rate * (llm_seconds + 0.1) * 8)))
        driver = threading.Thread(target=load.drive, args=(total,))
        result.minutes.append(Minute(0.0, _rss(result.processes), Sample(), 0))
        started = time.monotonic()
        driver.start()
        for k in range(1, int(round(total / interval)) + 1):
            time.sleep(max(0.0, started + k * interval - time.monotonic()))
            done, late = load.take()
            result.minutes.append(Minute(k * interval / 60, _rss(result.processes), done, late))
        load.stopping.set()
        driver.join()
        tail, late = load.take()  # runs still in flight at the end
        result.minutes[-1].runs.latencies += tail.latencies
        result.minutes[-1].runs.errors += tail.errors
        result.minutes[-1].runs.causes.update(tail.causes)
        result.minutes[-1].late += late
    return result


def _rss(processes: dict[str, int]) -> dict[str, float]:
    return {role: rss_mb(pid) for role, pid in processes.items()}


def soak_section(result: Soak, minutes: float, rate: float, llm_seconds: float, backend: str) -> list[str]:
    roles = list(result.processes)
    lines = [f"{minutes:g} minutes of blocking LLM-bound runs (start -> LLM -> end, {llm_seconds * 1000:.0f} ms LLM) "
             f"started at a steady {rate:g} runs/s, open loop; {backend}. RSS in MB of every process, sampled at the "
             "end of each interval (0 = before the load).", "",
             "| minute | " + " | ".join(f"{r} MB" for r in roles) + " | runs done | errors | late starts | "
             "p50 ms | p95 ms |",
             "|---" * (len(roles) + 6) + "|"]
    for m in result.minutes:
        ms = [v * 1000 for v in m.runs.latencies]
        lat = f"{median(ms):.0f} | {pct(ms, 0.95):.0f}" if ms else "- | -"
        lines.append(f"| {m.at:g} | " + " | ".join(f"{m.rss[r]:.0f}" for r in roles) +
                     f" | {len(ms)} | {m.runs.errors} | {m.late} | {lat} |")
    lines += ["", verdict(result, rate)]
    causes = error_causes([m.runs for m in result.minutes])
    if causes:
        lines += ["", f"Errors by cause: {causes}."]
    return lines


def verdict(result: Soak, rate: float) -> str:
    """Growth per process from the first loaded sample to the last, and whether that is flat."""
    first, last = result.minutes[1], result.minutes[-1]
    growth = {role: last.rss[role] - first.rss[role] for role in result.processes}
    done = sum(len(m.runs.latencies) for m in result.minutes)
    errors = sum(m.runs.errors for m in result.minutes)
    seconds = (last.at - result.minutes[0].at) * 60
    worst = max(growth, key=lambda role: growth[role])
    flat = all(g < FLAT_MB for g in growth.values())
    return (f"Verdict: {'flat' if flat else 'NOT flat'}: RSS growth from the first interval to the end "
            f"{', '.join(f'{role} {g:+.1f} MB' for role, g in growth.items())} (largest: {worst}; "
            f"total {sum(growth.values()):+.1f} MB; flat means under {FLAT_MB:.0f} MB per process). "
            f"{done} runs ({done / seconds:.1f}/s of {rate:g}/s asked), {errors} errors.")


def bench_section(quick: bool, minutes: float = 10.0, rate: float = 10.0, llm_seconds: float = 0.2) -> list[str]:
    """Soak the production path (quick: 0.2 minutes at 4 runs/s, embedded backends); the section's lines."""
    minutes, rate = (0.2, 4.0) if quick else (minutes, rate)
    backend = "embedded SQLite, 1 worker" if quick else "Postgres + Redis, gunicorn 2x64 threads, 2 workers x 64"
    with backends(quick) as env:
        result = run_soak(env, minutes, rate, llm_seconds, workers=1 if quick else 2)
    return soak_section(result, minutes, rate, llm_seconds, backend)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=10.0, help="runs started per second")
    parser.add_argument("--llm-ms", type=float, default=200.0, help="the LLM server's latency")
    parser.add_argument("--quick", action="store_true", help="0.2 minutes at 4 runs/s on embedded backends")
    parser.add_argument("--out", default=str(DOC.parents[1] / "var" / "results" / "benchmarks.md"))
    args = parser.parse_args()
    lines = bench_section(args.quick, args.minutes, args.rate, args.llm_ms / 1000)
    replace_section(Path(args.out), TITLE, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
