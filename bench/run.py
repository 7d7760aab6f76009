"""`make bench`: start the production path (gunicorn API, Huey workers, the machine's Postgres and Redis, the
local OpenAI-protocol server as its own process), measure, and write the report to `--out` (`make bench`:
`var/results/benchmarks.md`; `docs/benchmarks.md`, the published copy, changes only when someone copies it there).

`--quick` runs a tiny version on the embedded defaults (the smoke test in `make test` uses it)."""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import httpx

from bench import flows
from bench.engine_overhead import engine_overhead
from bench.measure import Sample, concurrent, median, pct, sequential
from bench.stack import ROOT, Stack, free_port, running_stack, scratch_postgres, wait_http

ADMIN = "adm-bench"


@contextmanager
def llm_process(latency: float, words: int, tps: float = 0.0, extra: tuple[str, ...] = ()) -> Iterator[str]:
    """The local OpenAI-protocol server as its own process; `extra` are more bench.llm_server options."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.llm_server", "--port", str(port), "--latency",
                             str(latency), "--words", str(words), "--tps", str(tps), *extra], cwd=ROOT,
                            stdout=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/v1/models")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def provision(base_url: str, dsl: str) -> dict[str, str]:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        app_id = client.post("/manage/v1/apps", content=dsl,
                             headers={**admin, "Content-Type": "application/yaml"}).json()["id"]
        token = client.post(f"/manage/v1/apps/{app_id}/api-keys", headers=admin).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def row(label: str, sample: Sample, extra: str = "") -> str:
    ms = [v * 1000 for v in sample.latencies]
    return (f"| {label} | {len(ms)} | {median(ms):.1f} | {pct(ms, 0.95):.1f} | {sample.rate:.1f} | "
            f"{sample.errors} |{extra}")


def queue_latency(stack: Stack) -> tuple[float, float, int]:
    """Enqueue-to-start of every run so far, from the run rows (ms)."""
    rows = stack.query("SELECT enqueued_at, started_at FROM workflow_runs WHERE started_at IS NOT NULL")
    waits = [(_aware(r[1]) - _aware(r[0])).total_seconds() * 1000 for r in rows]
    return median(waits), pct(waits, 0.95), len(waits)


def _aware(value: Any) -> Any:
    from datetime import UTC, datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))) / 1024 / 1024
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python {platform.python_version()}, {platform.system()}"


def orchestration(stack: Stack, runs: int) -> list[str]:
    lines = ["| flow | runs | median ms | p95 ms | runs/s | errors |", "|---|---|---|---|---|---|"]
    for label, dsl in [("start -> template -> end", flows.template_flow()), ("10-node linear", flows.linear_flow()),
                       ("3-way parallel", flows.parallel_flow())]:
        headers = provision(stack.base_url, dsl)
        lines.append(row(label, sequential(stack.base_url, headers, {"q": "hi"}, runs)))
    return lines


def llm_concurrency(stack: Stack, levels: list[int], total: int, llm_latency: float) -> list[str]:
    headers = provision(stack.base_url, flows.llm_flow())
    seq = sequential(stack.base_url, headers, {"q": "hi"}, 5 if total < 100 else 50)
    overhead = (median(seq.latencies) - llm_latency) * 1000
    lines = [f"One blocking LLM run, sequential: median {median(seq.latencies) * 1000:.1f} ms, of which "
             f"{overhead:.1f} ms is Trellis's overhead above the LLM server's {llm_latency * 1000:.0f} ms.", "",
             "| clients | mode | runs | median ms | p95 ms | runs/s | errors | first text_chunk p50 ms |",
             "|---|---|---|---|---|---|---|---|"]
    for clients in levels:
        for mode in ("blocking", "streaming"):
            sample = concurrent(stack.base_url, headers, {"q": "hi"}, clients, max(1, total // clients), mode)
            ttft = f" {median(sample.first_chunk) * 1000:.1f} |" if sample.first_chunk else " - |"
            lines.append(row(f"{clients} | {mode}", sample, ttft))
    return lines


def operations_sections(quick: bool, previous: str) -> list[str]:
    """Capacity at 500 in flight, the metrics overhead, the API and worker classes, and the soak, each on its own
    stacks and scratch database. The soak takes 10 minutes: `make bench` keeps the section `make soak` last wrote
    (found in `previous`, the document being replaced); quick runs a 12-second one."""
    # Imported here, not at the top: these modules import this one for llm_process and provision.
    from bench import capacity, metrics_overhead, product_cpu, roundtrips, soak, worker_classes
    from bench.report import section

    lines: list[str] = []
    for module in (roundtrips, product_cpu, capacity, metrics_overhead, worker_classes):
        lines += [f"## {module.TITLE}\n", *module.bench_section(quick), ""]
    kept = None if quick else section(previous, soak.TITLE)
    if kept:
        return lines + [*kept, ""]
    return lines + [f"## {soak.TITLE}\n", *(soak.bench_section(True) if quick else ["Not measured yet: `make soak`."]),
                    ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny run on embedded defaults (smoke test)")
    parser.add_argument("--out", default=str(ROOT / "var" / "results" / "benchmarks.md"))
    args = parser.parse_args()
    quick, out = args.quick, Path(args.out)
    with nullcontext({}) if quick else scratch_postgres() as backend:
        report = measure_all(quick, backend, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(report) + "\n")
    print(f"written to {out}", file=sys.stderr)
    print("\n".join(report))


def measure_all(quick: bool, backend: dict[str, str], out: Path) -> list[str]:
    env = {"ADMIN_TOKEN": ADMIN, "OPENAI_API_KEY": "sk-bench", "LOG_LEVEL": "WARNING",
           "WORKER_THREADS": "64", "GUNICORN_THREADS": "64", **backend}
    llm_latency = 0.2
    report = [f"# Benchmarks\n\nMachine: {machine()}. Backends: "
              f"{'embedded SQLite' if quick else 'Postgres + Redis (the machine’s), gunicorn gthread 2x64, '}"
              f"{'' if quick else '2 worker processes x 64 threads, local OpenAI-protocol server as its own process'}."
              f" Medians and p95 over the runs shown; the machine is shared, so read ratios, not absolutes.\n"]
    report += ["## Engine overhead in process (no I/O)\n", *engine_overhead(50 if quick else 500), ""]
    with tempfile.TemporaryDirectory(prefix="trellis-bench-") as tmp, \
            llm_process(latency=llm_latency, words=50) as llm_url, \
            running_stack(Path(tmp) / "home", {**env, "OPENAI_BASE_URL": llm_url}, workers=1 if quick else 2) as stack:
        report += ["## Orchestration overhead end to end (blocking, sequential)\n",
                   *orchestration(stack, 10 if quick else 200), ""]
        report += ["## LLM-bound runs under concurrency (200 ms LLM, 50 tokens)\n",
                   *llm_concurrency(stack, [1, 4] if quick else [1, 8, 32, 128], 8 if quick else 640,
                                    llm_latency), ""]
        p50, p95, n = queue_latency(stack)
        report += ["## Queue\n", f"Enqueue-to-start over {n} runs: p50 {p50:.1f} ms, p95 {p95:.1f} ms.\n"]
    # Sections measured by other targets (the soak) are kept from the last report, else from the published one.
    previous = out if out.exists() else ROOT / "docs" / "benchmarks.md"
    report += operations_sections(quick, previous.read_text() if previous.exists() else "")
    # Hand-written analysis of these numbers, and bench.rag's knowledge-base results, kept as written.
    for extra in ("benchmarks-analysis.md", "benchmarks-knowledge.md"):
        if not quick and (ROOT / "docs" / extra).exists():
            report += [(ROOT / "docs" / extra).read_text()]
    return report


if __name__ == "__main__":
    main()
