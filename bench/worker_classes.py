"""gunicorn gthread vs gevent for the API, and Huey thread vs greenlet workers, on the LLM-bound flow.

Every combination runs on a fresh stack (same database, same LLM server) in each round; the order of the
combinations rotates from round to round so that a slow spell of the shared machine does not land on one of them
only. The report gives medians over the rounds. gevent is driven by gunicorn's own `-k gevent` (it patches the
worker process before loading the app); the greenlet worker is `bench.green_worker`.

Usage: python -m bench.worker_classes [--rounds 3] [--seconds 12] [--quick] [--out docs/benchmarks.md]"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import flows
from bench.backends import backends
from bench.measure import Sample, error_causes, median, pct, runs_for
from bench.report import DOC, replace_section
from bench.run import llm_process, provision
from bench.stack import running_stack

TITLE = "API and worker classes (gthread/gevent, thread/greenlet)"
LLM_LATENCY = 0.2


@dataclass(frozen=True)
class Combination:
    api: str  # gunicorn worker class
    worker: str  # Huey worker type

    @property
    def api_args(self) -> tuple[str, ...]:
        # Command-line options win over gunicorn.conf.py's `worker_class = "gthread"`.
        return ("-k", "gevent", "--worker-connections", "1000") if self.api == "gevent" else ()

    @property
    def worker_module(self) -> str:
        return "bench.green_worker" if self.worker == "greenlet" else "worker.main"

    @property
    def label(self) -> str:
        return f"{self.api} + {self.worker}"


COMBINATIONS = [Combination("gthread", "thread"), Combination("gevent", "thread"),
                Combination("gthread", "greenlet"), Combination("gevent", "greenlet")]


def measure(home: Path, env: dict[str, str], combo: Combination, levels: list[int], seconds: float,
            workers: int) -> dict[int, Sample]:
    """One stack of `combo`; blocking LLM runs from each number of clients in `levels` for `seconds`."""
    with running_stack(home, env, workers=workers, api_args=combo.api_args,
                       worker_module=combo.worker_module) as stack:
        headers = provision(stack.base_url, flows.llm_flow())
        runs_for(stack.base_url, headers, {"q": "hi"}, 4, min(2.0, seconds / 4))  # warm-up
        return {clients: runs_for(stack.base_url, headers, {"q": "hi"}, clients, seconds) for clients in levels}


def worker_classes(env: dict[str, str], levels: list[int] | None = None, rounds: int = 3, seconds: float = 12.0,
                   workers: int = 2, combinations: list[Combination] | None = None) -> list[str]:
    """Interleaved rounds of every combination; the report section's lines. A combination whose stack does not
    start or serve is reported with its error rather than measured."""
    levels = levels or [32, 128]
    combos = combinations or COMBINATIONS
    samples: dict[tuple[Combination, int], list[Sample]] = {}
    failures: dict[Combination, str] = {}
    with tempfile.TemporaryDirectory(prefix="trellis-classes-") as tmp, \
            llm_process(latency=LLM_LATENCY, words=50) as llm_url:
        for r in range(rounds):
            for combo in combos[r % len(combos):] + combos[:r % len(combos)]:
                if combo in failures:
                    continue
                try:
                    result = measure(Path(tmp) / "home", {**env, "OPENAI_BASE_URL": llm_url}, combo, levels,
                                     seconds, workers)
                except (AssertionError, TimeoutError, OSError) as exc:
                    failures[combo] = f"{type(exc).__name__}: {str(exc)[:300]}"
                    continue
                for clients, sample in result.items():
                    samples.setdefault((combo, clients), []).append(sample)
    lines = [f"LLM-bound flow (start -> LLM -> end, {LLM_LATENCY * 1000:.0f} ms LLM, 50 tokens), blocking, "
             f"{workers} API processes and {workers} worker processes x 64 threads or greenlets; {rounds} rounds, "
             f"{seconds:.0f} s per level, combinations in rotating order, each on a fresh stack; medians of the "
             "rounds.", "",
             "| API | worker | clients | runs/s | p50 ms | p95 ms | errors | runs/s per round |",
             "|---|---|---|---|---|---|---|---|"]
    for combo in combos:
        if combo in failures:
            lines.append(f"| {combo.api} | {combo.worker} | - | - | - | - | did not run: {failures[combo]} | - |")
            continue
        for clients in levels:
            got = samples[(combo, clients)]
            lines.append(f"| {combo.api} | {combo.worker} | {clients} | {median([s.rate for s in got]):.1f} | "
                         f"{median([median(s.latencies) * 1000 for s in got]):.0f} | "
                         f"{median([pct(s.latencies, 0.95) * 1000 for s in got]):.0f} | "
                         f"{sum(s.errors for s in got)} | {', '.join(f'{s.rate:.1f}' for s in got)} |")
    causes = [f"- {combo.label}, {clients} clients: {error_causes(got)}." for (combo, clients), got in samples.items()
              if error_causes(got)]
    return lines + ["", *verdict(samples, levels, combos)] + (["", "Errors by cause:", "", *causes] if causes else [])


def verdict(samples: dict[tuple[Combination, int], list[Sample]], levels: list[int],
            combos: list[Combination]) -> list[str]:
    """Each combination's median runs/s relative to the product's (the first), per level."""
    product = combos[0]
    lines = [f"The product runs {product.label} (gunicorn.conf.py `worker_class`, worker/main.py `worker_type`). "
             "Median runs/s relative to it:", ""]
    for clients in levels:
        base = median([s.rate for s in samples.get((product, clients), [])])
        if not base > 0:  # also NaN: the product's combination did not run
            continue
        ratios = [f"{c.label} x{median([s.rate for s in samples[(c, clients)]]) / base:.2f}"
                  for c in combos[1:] if (c, clients) in samples]
        lines.append(f"- {clients} clients: {', '.join(ratios) or 'no other combination ran'}.")
    return lines


def bench_section(quick: bool, rounds: int = 3, seconds: float = 12.0) -> list[str]:
    """Measure on the production path (quick: one 1 s round of 4 clients, embedded backends); the section's
    lines."""
    with backends(quick) as env:
        if quick:
            return worker_classes(env, [4], 1, 1.0, workers=1)
        return worker_classes(env, rounds=rounds, seconds=seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--quick", action="store_true", help="1 round, 4 clients for 1 s, on embedded backends")
    parser.add_argument("--out", default=str(DOC))
    args = parser.parse_args()
    lines = bench_section(args.quick, args.rounds, args.seconds)
    replace_section(Path(args.out), TITLE, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
