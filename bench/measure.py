"""Load drivers: sequential and concurrent clients against a running API, blocking and streaming."""

from __future__ import annotations

import collections
import json
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    first_chunk: list[float] = field(default_factory=list)
    errors: int = 0
    wall: float = 0.0
    causes: collections.Counter[str] = field(default_factory=collections.Counter)  # errors by short reason

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall if self.wall else 0.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def one_run(client: httpx.Client, headers: dict[str, str], inputs: dict[str, Any], mode: str,
            sample: Sample, lock: threading.Lock) -> None:
    body = {"inputs": inputs, "response_mode": mode, "user": "bench"}
    started = time.perf_counter()
    first: float | None = None
    ok, cause = False, "no workflow_finished"
    try:
        if mode == "blocking":
            response = client.post("/v1/workflows/run", json=body, headers=headers)
            if response.status_code != 200:
                cause = f"HTTP {response.status_code} {response.text[:80]}"
            else:
                data = response.json()["data"]
                ok, cause = data["status"] == "succeeded", f"run {data['status']}: {str(data.get('error'))[:80]}"
        else:
            with client.stream("POST", "/v1/workflows/run", json=body, headers=headers) as response:
                for line in response.iter_lines():
                    if not line.startswith("data: "):
                        continue
                    event = json.loads(line[6:])
                    if event["event"] == "text_chunk" and first is None:
                        first = time.perf_counter() - started
                    if event["event"] == "workflow_finished":
                        ok = event["data"]["status"] == "succeeded"
                        cause = f"run {event['data']['status']}: {str(event['data'].get('error'))[:80]}"
    except httpx.HTTPError as exc:
        ok, cause = False, type(exc).__name__
    elapsed = time.perf_counter() - started
    with lock:
        if ok:
            sample.latencies.append(elapsed)
            if first is not None:
                sample.first_chunk.append(first)
        else:
            sample.errors += 1
            sample.causes[cause] += 1


def sequential(base_url: str, headers: dict[str, str], inputs: dict[str, Any], runs: int,
               mode: str = "blocking") -> Sample:
    sample, lock = Sample(), threading.Lock()
    with httpx.Client(base_url=base_url, timeout=60) as client:
        one_run(client, headers, inputs, mode, Sample(), lock)  # warm-up: connection, caches
        started = time.perf_counter()
        for _ in range(runs):
            one_run(client, headers, inputs, mode, sample, lock)
        sample.wall = time.perf_counter() - started
    return sample


def concurrent(base_url: str, headers: dict[str, str], inputs: dict[str, Any], clients: int, runs_each: int,
               mode: str) -> Sample:
    """`clients` threads, each with its own connection, each doing `runs_each` runs back to back."""
    sample, lock = Sample(), threading.Lock()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    def client_loop() -> None:
        with httpx.Client(base_url=base_url, timeout=120, limits=limits) as client:
            for _ in range(runs_each):
                one_run(client, headers, inputs, mode, sample, lock)

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sample.wall = time.perf_counter() - started
    return sample


def _for_seconds(base_url: str, clients: int, seconds: float,
                 body: Callable[[httpx.Client, Sample, threading.Lock], None]) -> Sample:
    """`clients` threads calling `body(client, sample, lock)` back to back for `seconds`, each thread on its own
    keep-alive connection; the rate counts what finished within the window."""
    sample, lock = Sample(), threading.Lock()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients_ready, go = threading.Barrier(clients + 1), threading.Event()
    deadline = [0.0]

    def client_loop() -> None:
        with httpx.Client(base_url=base_url, timeout=120, limits=limits) as client:
            clients_ready.wait()
            go.wait()
            while time.perf_counter() < deadline[0]:
                body(client, sample, lock)

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    for t in threads:
        t.start()
    clients_ready.wait()  # the clients exist (creating one costs more than a request): start the clock now
    started = time.perf_counter()
    deadline[0] = started + seconds
    go.set()
    for t in threads:
        t.join()
    sample.wall = time.perf_counter() - started
    return sample


def requests_for(base_url: str, path: str, headers: dict[str, str], clients: int, seconds: float) -> Sample:
    """GET `path` from `clients` keep-alive connections for `seconds`; a non-200 answer is an error."""

    def get(client: httpx.Client, sample: Sample, lock: threading.Lock) -> None:
        started = time.perf_counter()
        try:
            ok = client.get(path, headers=headers).status_code == 200
        except httpx.HTTPError:
            ok = False
        elapsed = time.perf_counter() - started
        with lock:
            if ok:
                sample.latencies.append(elapsed)
            else:
                sample.errors += 1

    return _for_seconds(base_url, clients, seconds, get)


def runs_for(base_url: str, headers: dict[str, str], inputs: dict[str, Any], clients: int, seconds: float,
             mode: str = "blocking") -> Sample:
    """Runs from `clients` keep-alive connections, back to back, for `seconds`."""

    def run(client: httpx.Client, sample: Sample, lock: threading.Lock) -> None:
        one_run(client, headers, inputs, mode, sample, lock)

    return _for_seconds(base_url, clients, seconds, run)


def error_causes(samples: list[Sample]) -> str:
    """The errors of `samples` by reason, most frequent first ("3 x HTTP 503 ..., 1 x ReadTimeout"), or ""."""
    total: collections.Counter[str] = collections.Counter()
    for sample in samples:
        total.update(sample.causes)
    return ", ".join(f"{n} x {cause}" for cause, n in total.most_common())
