"""Capacity of one worker process: can it hold N LLM-bound runs in flight at once, and in how much memory?

One worker with N+ threads, an LLM server that answers only after a long latency (so no run finishes during
the measurement), N streaming submissions that hang up once the run has started (a client that hangs up never
stops its run), then the `running` rows are counted until they reach N or stop growing. The worker's RSS is
read idle before the submissions and at that peak.

Usage: python -m bench.capacity [--runs 500] [--llm-seconds 60] [--quick] [--out docs/benchmarks.md]"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import flows
from bench.backends import backends
from bench.report import DOC, replace_section
from bench.run import llm_process, provision
from bench.stack import Stack, rss_mb, running_stack

TITLE = "Capacity of one worker process"
GIB_MB = 1024.0


@dataclass(frozen=True)
class Capacity:
    threads: int
    submitted: int
    refused: int  # submissions the API did not accept
    peak: int  # most runs `running` at once
    seconds_to_peak: float  # from the first submission
    idle_mb: float
    peak_mb: float

    @property
    def kb_per_run(self) -> float:
        return (self.peak_mb - self.idle_mb) / max(1, self.peak) * 1024


def count_running(stack: Stack) -> int:
    return int(stack.query("SELECT count(*) FROM workflow_runs WHERE status = 'running'")[0][0] or 0)


def submit(base_url: str, headers: dict[str, str], runs: int, parallel: int = 64) -> int:
    """Start `runs` streaming runs, hanging up on each after its first event; returns how many were refused."""
    body = {"inputs": {"q": "hi"}, "response_mode": "streaming", "user": "bench"}
    limits = httpx.Limits(max_connections=parallel, max_keepalive_connections=0)

    def one(client: httpx.Client) -> bool:
        try:
            with client.stream("POST", "/v1/workflows/run", json=body, headers=headers) as response:
                if response.status_code != 200:
                    return False
                next(response.iter_lines())  # accepted and started; hanging up does not stop the run
                return True
        except (httpx.HTTPError, StopIteration):
            return False

    # One shared client: building one per request costs more than the request on this machine.
    with httpx.Client(base_url=base_url, timeout=60, limits=limits) as client, \
            ThreadPoolExecutor(parallel) as pool:
        return sum(not ok for ok in pool.map(lambda _: one(client), range(runs)))


def hold(stack: Stack, runs: int, deadline: float, plateau: float) -> tuple[int, float, float]:
    """Poll the running count until it reaches `runs`, stays flat for `plateau` seconds or `deadline` passes;
    returns the peak, when it was reached (monotonic) and the worker's RSS then."""
    peak, peak_at, peak_mb = 0, time.monotonic(), float("nan")
    while time.monotonic() < deadline:
        running = count_running(stack)
        if running > peak:
            peak, peak_at, peak_mb = running, time.monotonic(), rss_mb(stack.workers[0].pid)
        if peak >= runs or time.monotonic() - peak_at > plateau:
            break
        time.sleep(0.5)
    # Memory still grows for a moment after the last run starts (its LLM call's buffers): read it once more.
    time.sleep(1.0)
    return peak, peak_at, max(peak_mb, rss_mb(stack.workers[0].pid))


def measure_capacity(env: dict[str, str], runs: int = 500, llm_seconds: float = 60.0) -> Capacity:
    """One worker with `runs` + 16 threads holding `runs` runs whose LLM answers after `llm_seconds`."""
    threads = runs + 16  # headroom: a slot freed by a hung-up stream is not needed, but the count must not bind
    stack_env = {**env, "WORKER_THREADS": str(threads), "GUNICORN_THREADS": "128",
                 # Idle SSE relays notice a hung-up client at the next ping: free those API threads quickly.
                 "SSE_PING_SECONDS": "1", "LLM_TIMEOUT_SECONDS": str(llm_seconds * 3),
                 # Shutdown: hand unfinished runs back at once instead of draining for 25 s.
                 "WORKER_DRAIN_SECONDS": "1"}
    with tempfile.TemporaryDirectory(prefix="trellis-capacity-") as tmp, \
            llm_process(latency=llm_seconds, words=20) as llm_url, \
            running_stack(Path(tmp) / "home", {**stack_env, "OPENAI_BASE_URL": llm_url}, workers=1) as stack:
        headers = provision(stack.base_url, flows.llm_flow())
        time.sleep(1.0)
        idle = rss_mb(stack.workers[0].pid)
        started = time.monotonic()
        refused = submit(stack.base_url, headers, runs)
        # Every run must still be in its LLM call when counted: stop well before the first could finish.
        peak, peak_at, peak_mb = hold(stack, runs - refused, started + llm_seconds * 0.9, plateau=10.0)
    return Capacity(threads, runs, refused, peak, peak_at - started, idle, peak_mb)


def capacity_section(result: Capacity, llm_seconds: float) -> list[str]:
    reached = result.peak >= result.submitted
    under = result.peak_mb < GIB_MB
    return [f"One worker process with {result.threads} threads, LLM answering after {llm_seconds:.0f} s (no run "
            f"finishes while counting); {result.submitted} streaming submissions from 64 client threads, each "
            "hanging up after its first event; `running` rows polled until all are running or the count stays "
            "flat for 10 s.", "",
            "| threads | submitted | refused | peak running | s to peak | idle RSS MB | peak RSS MB | KB per run |",
            "|---|---|---|---|---|---|---|---|",
            f"| {result.threads} | {result.submitted} | {result.refused} | {result.peak} | "
            f"{result.seconds_to_peak:.1f} | {result.idle_mb:.0f} | {result.peak_mb:.0f} | {result.kb_per_run:.0f} |",
            "", f"Verdict: {result.peak} of {result.submitted} runs in flight at once "
            f"({'reached' if reached else 'not reached'}), {result.peak_mb:.0f} MB RSS "
            f"({'under' if under else 'over'} 1 GiB)."]


def bench_section(quick: bool, runs: int = 500, llm_seconds: float = 60.0) -> list[str]:
    """Measure on the production path (quick: 20 runs, 5 s LLM, embedded backends); the section's lines."""
    runs, llm_seconds = (20, 5.0) if quick else (runs, llm_seconds)
    with backends(quick) as env:
        return capacity_section(measure_capacity(env, runs, llm_seconds), llm_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--llm-seconds", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="20 runs, 5 s LLM, embedded backends")
    parser.add_argument("--out", default=str(DOC))
    args = parser.parse_args()
    lines = bench_section(args.quick, args.runs, args.llm_seconds)
    replace_section(Path(args.out), TITLE, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
