"""The clients' side of `make chaos` (issue 14): blocking and streaming clients that stay connected while Redis
restarts empty and a worker is SIGKILLed under their runs. Counts what a client sees, against what the database
says happened: runs lost, runs stuck, and clients told an error (an HTTP error, a dropped stream, a stream without
`workflow_finished`) for a run that succeeded. All three must be 0."""

from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.cluster import Cluster

CLIENT_TIMEOUT = 180.0


@dataclass
class ClientReport:
    clients: int = 0
    blocking: int = 0
    streaming: int = 0
    lost: int = 0
    stuck: int = 0
    told_error_but_succeeded: int = 0
    refused: int = 0  # a 503 before the run was accepted (nothing written): an honest answer, not a loss
    succeeded: int = 0
    redis_restarts: int = 0
    worker_kills: int = 0
    errors: list[str] = field(default_factory=list)

    def table(self) -> str:
        rows = [("clients connected through the faults (blocking / streaming)",
                 f"{self.clients} ({self.blocking} / {self.streaming})"),
                ("Redis restarts (empty) / worker SIGKILLs under them", f"{self.redis_restarts} / {self.worker_kills}"),
                ("refused before acceptance (503, nothing written)", self.refused),
                ("runs succeeded", self.succeeded), ("runs lost", self.lost), ("runs stuck", self.stuck),
                ("clients told an error for a run that succeeded", self.told_error_but_succeeded)]
        return "\n".join(["| measure | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows]])


def _blocking(base: str, headers: dict[str, str], key: str) -> str | None:
    """None when the client got the run's result, else what went wrong."""
    body = {"inputs": {"q": key}, "response_mode": "blocking", "user": "chaos"}
    try:
        with httpx.Client(base_url=base, timeout=CLIENT_TIMEOUT) as client:
            response = client.post("/v1/workflows/run", json=body, headers={**headers, "Idempotency-Key": key})
    except httpx.HTTPError as exc:
        return f"{key}: {type(exc).__name__}"
    if response.status_code != 200:
        return f"{key}: HTTP {response.status_code} {response.text[:120]}"
    status = response.json()["data"]["status"]
    return None if status in ("succeeded", "failed", "stopped") else f"{key}: answered while {status}"


def _streaming(base: str, headers: dict[str, str], key: str) -> str | None:
    body = {"inputs": {"q": key}, "response_mode": "streaming", "user": "chaos"}
    try:
        with httpx.Client(base_url=base, timeout=CLIENT_TIMEOUT) as client, client.stream(
                "POST", "/v1/workflows/run", json=body, headers={**headers, "Idempotency-Key": key}) as response:
            if response.status_code != 200:
                return f"{key}: HTTP {response.status_code}"
            for line in response.iter_lines():
                if line.startswith("data: ") and json.loads(line[6:]).get("event") == "workflow_finished":
                    return None
    except httpx.HTTPError as exc:
        return f"{key}: {type(exc).__name__}"
    return f"{key}: the stream ended without workflow_finished"


def _faults(cluster: Cluster, report: ClientReport, redis_at: float, kill_at: float) -> None:
    time.sleep(redis_at)
    cluster.restart_redis_empty()
    report.redis_restarts += 1
    time.sleep(max(0.0, kill_at - redis_at))
    alive = [w for w in cluster.workers if w.poll() is None]
    if alive:
        alive[0].send_signal(signal.SIGKILL)
        alive[0].wait()
        report.worker_kills += 1
        cluster.start_worker()


def run_client_chaos(cluster: Cluster, headers: dict[str, str], clients: int,
                     runs_by_key: Any, redis_at: float = 1.0, kill_at: float = 2.0) -> ClientReport:
    """`clients` connections (every other one streaming) opened within a second, faults under them, then the
    count. `runs_by_key(cluster)` reads the run rows by Idempotency-Key (bench.chaos)."""
    report = ClientReport(clients=clients)
    told: dict[str, str | None] = {}
    keys = [f"client-{i}" for i in range(clients)]

    def one(index: int, key: str) -> None:
        follow = _streaming if index % 2 else _blocking
        told[key] = follow(cluster.next_api(), headers, key)

    threads = [threading.Thread(target=one, args=(i, k)) for i, k in enumerate(keys)]
    report.streaming = clients // 2
    report.blocking = clients - report.streaming
    fault = threading.Thread(target=_faults, args=(cluster, report, redis_at, kill_at))
    fault.start()
    for thread in threads:
        thread.start()
        time.sleep(1.0 / max(1, clients))
    for thread in threads:
        thread.join(CLIENT_TIMEOUT + 10)
    fault.join()
    deadline = time.monotonic() + 120
    runs = runs_by_key(cluster)
    while any(runs.get(k, {}).get("status") in ("queued", "running") for k in keys) and time.monotonic() < deadline:
        time.sleep(0.5)
        runs = runs_by_key(cluster)
    for key in keys:
        status = runs.get(key, {}).get("status")
        if status is None:  # no row kept the key: refused with 503 (the key is released), or lost
            refused = "HTTP 503" in (told.get(key) or "")
            report.refused += refused
            report.lost += not refused
            continue
        report.stuck += status in ("queued", "running")
        report.succeeded += status == "succeeded"
        if told.get(key) is not None or key not in told:
            report.errors.append(told.get(key) or f"{key}: no answer")
            report.told_error_but_succeeded += status == "succeeded"
    return report
