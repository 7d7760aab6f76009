"""Round trips per run, counted by the servers: Postgres transactions (pg_stat_database of the bench's own
database) and Redis commands by name (INFO commandstats of a private Redis). Unlike timings these do not
depend on how busy the machine is, so they show what a change to the hot path saved.

Usage: python -m bench.roundtrips [--runs 100]   (prints a Markdown table)"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import redis

from bench import flows
from bench.measure import median, sequential
from bench.run import ADMIN, llm_process, provision
from bench.stack import free_port, running_stack, scratch_postgres

# A busy backend reports its counters at most once a second, an idle one within 10 s (PostgreSQL 15+).
STATS_FLUSH_SECONDS = 11.0
# Blocking pops of idle worker threads: their count depends on time, not on runs.
IDLE_COMMANDS = {"brpop", "blpop", "bzpopmin", "info", "ping", "client|setinfo", "hello"}


def _xacts(admin_url: str, name: str) -> int:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
                           (name,)).fetchone()
    return int(row[0]) if row else 0


def _commands(client: redis.Redis) -> collections.Counter[str]:
    stats = client.info("commandstats")
    return collections.Counter({key.removeprefix("cmdstat_"): int(value["calls"]) for key, value in stats.items()})


TITLE = "Round trips per run"


def bench_section(quick: bool) -> list[str]:
    if quick:
        return ["Counted on the production path only (`make roundtrips`)."]
    return ["Counted by the servers over 100 sequential runs each (Postgres: `pg_stat_database` of the bench's own "
            "database; Redis: `INFO commandstats` of a private server, idle blocking pops left out). Unlike timings, "
            "these do not depend on how busy the machine is.", "", *measure(100)]


def measure(runs: int) -> list[str]:
    admin_url = "postgresql://postgres@127.0.0.1:5432/postgres"
    redis_port = free_port()
    server = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(redis_port), "--bind",
                               "127.0.0.1", "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=redis_port, socket_timeout=5)
    lines = ["| flow | Postgres transactions per run | Redis commands per run | of which | median ms (sequential) |",
             "|---|---|---|---|---|"]
    try:
        with scratch_postgres(admin_url, f"redis://127.0.0.1:{redis_port}/0") as backend, \
                tempfile.TemporaryDirectory(prefix="trellis-rt-") as tmp, \
                llm_process(latency=0.05, words=50) as llm_url, \
                running_stack(Path(tmp) / "home", {**backend, "ADMIN_TOKEN": ADMIN, "OPENAI_API_KEY": "sk-bench",
                                                    "LOG_LEVEL": "WARNING", "OPENAI_BASE_URL": llm_url}) as stack:
            name = backend["DATABASE_URL"].rsplit("/", 1)[1]
            for label, dsl in [("start -> template -> end", flows.template_flow()),
                               ("10-node linear", flows.linear_flow()),
                               ("start -> LLM (50 ms, 50 tokens) -> end", flows.llm_flow())]:
                headers = provision(stack.base_url, dsl)
                sequential(stack.base_url, headers, {"q": "hi"}, 3)  # warm up: caches, connections
                time.sleep(STATS_FLUSH_SECONDS)
                xacts, commands = _xacts(admin_url, name), _commands(client)
                sample = sequential(stack.base_url, headers, {"q": "hi"}, runs)
                time.sleep(STATS_FLUSH_SECONDS)
                xacts = _xacts(admin_url, name) - xacts
                delta = _commands(client) - commands
                busy = {cmd: n for cmd, n in delta.items() if cmd not in IDLE_COMMANDS}
                done = max(1, len(sample.latencies) + 1)  # + the warm-up run inside `sequential`
                detail = ", ".join(f"{cmd} {n / done:.1f}" for cmd, n in sorted(busy.items(), key=lambda x: -x[1])
                                   if n / done >= 0.5)
                lines.append(f"| {label} | {xacts / done:.1f} | {sum(busy.values()) / done:.1f} | {detail} | "
                             f"{median(sample.latencies) * 1000:.1f} |")
    finally:
        server.terminate()
        server.wait(timeout=10)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100)
    print("\n".join(measure(parser.parse_args().runs)))


if __name__ == "__main__":
    main()
