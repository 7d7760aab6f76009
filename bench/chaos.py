"""`make chaos`: drive runs through the cluster while killing workers, restarting Redis empty, restarting an
API process and SIGTERMing a worker; then count lost, stuck and duplicated runs and repeated LLM calls. A second
phase keeps blocking and streaming clients connected through a Redis restart and a worker SIGKILL and counts the
clients told an error for a run that succeeded (bench.chaos_clients).

Submissions retry with the same Idempotency-Key on any error, as Dify's SDKs do on timeouts, so a retry after
a fault can never start a second run. Results go to `--out` (`make chaos`: var/results/reliability.md; the
published copy is docs/reliability.md)."""

from __future__ import annotations

import argparse
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import flows
from bench.chaos_clients import ClientReport, run_client_chaos
from bench.cluster import Cluster, new_cluster
from bench.measure import median, pct
from bench.run import llm_process
from bench.stack import ROOT

ADMIN = "adm-chaos"


@dataclass
class Report:
    submitted: int = 0
    lost: int = 0
    stuck: int = 0
    duplicated: int = 0
    failed: int = 0
    worker_kills: int = 0
    redis_restarts: int = 0
    api_restarts: int = 0
    sigterms: int = 0
    runs_resumed: int = 0
    max_nodes_recalled: int = 0
    resume_seconds: list[float] = field(default_factory=list)
    latency_faults: list[float] = field(default_factory=list)
    latency_baseline: list[float] = field(default_factory=list)
    clients: ClientReport | None = None

    def table(self) -> str:
        rows = [("runs submitted", self.submitted), ("lost", self.lost), ("stuck", self.stuck),
                ("duplicated", self.duplicated), ("failed", self.failed), ("worker SIGKILLs", self.worker_kills),
                ("Redis restarts (empty)", self.redis_restarts), ("API restarts", self.api_restarts),
                ("worker SIGTERMs", self.sigterms), ("runs resumed on another worker", self.runs_resumed),
                ("most LLM nodes called again in one run", self.max_nodes_recalled),
                ("kill -> resume p50 / max (s)", f"{median(self.resume_seconds):.1f} / "
                                                  f"{max(self.resume_seconds, default=float('nan')):.1f}"),
                ("run latency p50 / p95 without faults (s)", f"{median(self.latency_baseline):.2f} / "
                                                              f"{pct(self.latency_baseline, 0.95):.2f}"),
                ("run latency p50 / p95 under faults (s)", f"{median(self.latency_faults):.2f} / "
                                                            f"{pct(self.latency_faults, 0.95):.2f}")]
        return "\n".join(["| measure | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows]])


def provision(cluster: Cluster) -> dict[str, str]:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=cluster.next_api(), timeout=30) as client:
        app_id = client.post("/manage/v1/apps", content=flows.two_llm_flow(),
                             headers={**admin, "Content-Type": "application/yaml"}).json()["id"]
        token = client.post(f"/manage/v1/apps/{app_id}/api-keys", headers=admin).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def submit(cluster: Cluster, headers: dict[str, str], key: str, deadline: float) -> bool:
    """Submit one run (streaming; hang up after the first event) until accepted or `deadline`."""
    body = {"inputs": {"q": key}, "response_mode": "streaming", "user": "chaos"}
    while time.monotonic() < deadline:
        try:
            with httpx.Client(base_url=cluster.next_api(), timeout=10) as client, client.stream(
                    "POST", "/v1/workflows/run", json=body, headers={**headers, "Idempotency-Key": key}) as response:
                if response.status_code == 200:
                    next(response.iter_lines(), None)
                    return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


def drive(cluster: Cluster, headers: dict[str, str], keys: list[str], rate: float) -> list[str]:
    """Submit `keys` at `rate` per second from a few threads; returns the keys never accepted."""
    lost: list[str] = []
    lock = threading.Lock()
    threads = []
    for i, key in enumerate(keys):
        def one(k: str = key) -> None:
            if not submit(cluster, headers, k, time.monotonic() + 60):
                with lock:
                    lost.append(k)

        t = threading.Thread(target=one)
        t.start()
        threads.append(t)
        time.sleep(1.0 / rate if i < len(keys) - 1 else 0)
    for t in threads:
        t.join()
    return lost


def runs_by_key(cluster: Cluster) -> dict[str, dict[str, Any]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(cluster.env["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT r.id, r.idempotency_key, r.status, r.attempts, r.lease_owner, "
            "EXTRACT(EPOCH FROM (r.finished_at - r.created_at)) AS latency, "
            "(SELECT count(*) - count(DISTINCT n.node_id) FROM node_executions n "
            " WHERE n.run_id = r.id AND n.status = 'succeeded') AS dup_nodes "
            "FROM workflow_runs r WHERE r.idempotency_key IS NOT NULL")).mappings().all()
    engine.dispose()
    return {row["idempotency_key"]: dict(row) for row in rows}


def wait_settled(cluster: Cluster, keys: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        runs = runs_by_key(cluster)
        active = [k for k in keys if runs.get(k, {}).get("status") in ("queued", "running")]
        if not active or time.monotonic() > deadline:
            return runs
        time.sleep(0.5)


def watch_resume(cluster: Cluster, pid: int, killed_at: float, report: Report) -> None:
    """After a kill: how long until every run the dead worker held is leased by someone else (or final)."""
    def held() -> list[str]:
        return [k for k, r in runs_by_key(cluster).items()
                if r["status"] == "running" and (r["lease_owner"] or "").split(":")[1:2] == [str(pid)]]

    orphans = held()
    while orphans and time.monotonic() - killed_at < 120:
        time.sleep(0.2)
        orphans = held()
    if not orphans:
        report.resume_seconds.append(time.monotonic() - killed_at)


def faults(cluster: Cluster, report: Report, kills: int, every: float, stop: threading.Event) -> None:
    rng = random.Random(7)  # deterministic schedule
    plan = ["kill"] * kills + ["redis", "api", "term"]
    rng.shuffle(plan)
    for action in plan:
        if stop.wait(every):
            return
        alive = [w for w in cluster.workers if w.poll() is None]
        if action in ("kill", "term") and alive:
            victim = rng.choice(alive)
            victim.send_signal(signal.SIGKILL if action == "kill" else signal.SIGTERM)
            killed_at = time.monotonic()
            victim.wait()
            if action == "kill":
                report.worker_kills += 1
                threading.Thread(target=watch_resume, args=(cluster, victim.pid, killed_at, report)).start()
            else:
                report.sigterms += 1
            cluster.start_worker()  # Kubernetes would start a replacement
        elif action == "redis":
            cluster.restart_redis_empty()
            report.redis_restarts += 1
        elif action == "api":
            cluster.restart_api(sorted(cluster.apis)[0])
            report.api_restarts += 1


def llm_recalls(llm_url: str, keys: list[str]) -> int:
    """The most LLM nodes any one run had called more than once."""
    prompts = httpx.get(llm_url.rsplit("/v1", 1)[0] + "/v1/stats", timeout=10).json()["prompts"]
    counts = Counter()
    for prompt in prompts:
        for marker in ("first step: ", "second step: Echo: first step: "):
            if prompt.startswith(marker):
                counts[(prompt[len(marker):], marker)] += 1
    per_run = Counter(key for (key, _), n in counts.items() if n > 1)
    return max(per_run.values(), default=0)


def run_chaos(runs: int, kills: int, every: float, rate: float, llm_latency: float, home: Path | None = None,
              clients: int = 0) -> Report:
    """The fault run; with `clients`, the connected-clients phase after it (its result in `report.clients`)."""
    report = Report()
    with llm_process(latency=llm_latency, words=0) as llm_url:
        cluster = new_cluster({"ADMIN_TOKEN": ADMIN, "OPENAI_BASE_URL": llm_url, "OPENAI_API_KEY": "sk-chaos",
                               "LEASE_SECONDS": "3", "REAPER_INTERVAL_SECONDS": "1", "WORKER_DRAIN_SECONDS": "2",
                               "QUEUE_LOST_SECONDS": "3", "WORKER_THREADS": "32", "MAX_RUN_ATTEMPTS": "10"},
                              home=home)
        try:
            headers = provision(cluster)
            baseline = [f"base-{i}" for i in range(max(10, runs // 10))]
            drive(cluster, headers, baseline, rate)
            settled = wait_settled(cluster, baseline, 60)
            report.latency_baseline = [float(settled[k]["latency"]) for k in baseline
                                       if settled.get(k, {}).get("status") == "succeeded"]
            keys = [f"run-{i}" for i in range(runs)]
            stop = threading.Event()
            chaos = threading.Thread(target=faults, args=(cluster, report, kills, every, stop))
            chaos.start()
            never_accepted = drive(cluster, headers, keys, rate)
            chaos.join()
            settled = wait_settled(cluster, keys, 120)
            report.submitted = len(keys)
            report.lost = len(never_accepted) + sum(1 for k in keys if k not in settled and k not in never_accepted)
            report.stuck = sum(1 for k in keys if settled.get(k, {}).get("status") in ("queued", "running"))
            report.failed = sum(1 for k in keys if settled.get(k, {}).get("status") == "failed")
            report.duplicated = sum(1 for k in keys if int(settled.get(k, {}).get("dup_nodes") or 0) > 0)
            report.runs_resumed = sum(1 for k in keys if int(settled.get(k, {}).get("attempts") or 0) > 1)
            report.latency_faults = [float(settled[k]["latency"]) for k in keys
                                     if settled.get(k, {}).get("status") == "succeeded"]
            report.max_nodes_recalled = llm_recalls(llm_url, keys)
            if clients:
                report.clients = run_client_chaos(cluster, headers, clients, runs_by_key)
        finally:
            cluster.stop()
    return report


def run_clients_only(clients: int, llm_latency: float, home: Path | None = None) -> ClientReport:
    """Only the connected-clients phase, on a fresh cluster (the reduced scenario the test suite runs)."""
    with llm_process(latency=llm_latency, words=0) as llm_url:
        cluster = new_cluster({"ADMIN_TOKEN": ADMIN, "OPENAI_BASE_URL": llm_url, "OPENAI_API_KEY": "sk-chaos",
                               "LEASE_SECONDS": "3", "REAPER_INTERVAL_SECONDS": "1", "WORKER_DRAIN_SECONDS": "2",
                               "QUEUE_LOST_SECONDS": "3", "WORKER_THREADS": "32", "MAX_RUN_ATTEMPTS": "10"},
                              home=home)
        try:
            return run_client_chaos(cluster, provision(cluster), clients, runs_by_key)
        finally:
            cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--every", type=float, default=3.0, help="seconds between faults")
    parser.add_argument("--rate", type=float, default=12.0, help="runs submitted per second")
    parser.add_argument("--llm-latency", type=float, default=0.5)
    parser.add_argument("--clients", type=int, default=60, help="connected clients in the second phase")
    parser.add_argument("--out", default=str(ROOT / "var" / "results" / "reliability.md"))
    args = parser.parse_args()
    report = run_chaos(args.runs, args.kills, args.every, args.rate, args.llm_latency, clients=args.clients)
    text = (f"# Reliability under faults (`make chaos`)\n\n{args.runs} runs of start -> LLM -> LLM -> end "
            f"({args.llm_latency:g} s per LLM call) submitted at {args.rate:g}/s through 2 API processes to 3 workers "
            f"(Postgres, private Redis), with a fault every {args.every:g} s: {args.kills} worker SIGKILLs, one Redis "
            f"restart that loses everything in it, one API restart and one worker SIGTERM, in a fixed random "
            f"order.\n\n{report.table()}\n")
    if report.clients is not None:
        text += (f"\nThen {args.clients} clients, half blocking and half streaming, each holding its connection "
                 f"until its answer, while Redis restarts empty and a worker is SIGKILLed under their runs "
                 f"(no client retries):\n\n{report.clients.table()}\n")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
