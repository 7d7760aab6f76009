"""A private Prometheus server for the bench (the `prometheus` binary, its own data folder and port), its HTTP
query API, and the Grafana template variables a dashboard's queries use, expanded the way Grafana would."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.stack import free_port

# `$name`, `${name}`, `${name:format}` and the old `[[name]]`: Grafana's template variable syntaxes.
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)(?::\w+)?\]\]")


@dataclass(frozen=True)
class Prometheus:
    url: str

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """The matrix of `expr` between two Unix times. Raises RuntimeError with Prometheus's message on a
        query error (a bad expression is a bug of the dashboard, not a missing series)."""
        return self._get("/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": step})

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """The instant vector of `expr` at `at` (now when None)."""
        return self._get("/api/v1/query", {"query": expr, **({"time": at} if at is not None else {})})

    def targets(self) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/targets", timeout=10)
        response.raise_for_status()
        return list(response.json()["data"]["activeTargets"])

    def _get(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}{path}", params=params, timeout=60)
        body = response.json()
        if body.get("status") != "success":
            raise RuntimeError(f"{params['query']}: {body.get('errorType')}: {body.get('error')}")
        return list(body["data"]["result"])


def config(jobs: Mapping[str, list[str]], scrape_interval: float, rule_files: list[Path]) -> dict[str, Any]:
    """A prometheus.yml scraping `/metrics` of each job's `host:port` targets every `scrape_interval` seconds."""
    interval = f"{int(scrape_interval * 1000)}ms"
    return {"global": {"scrape_interval": interval, "evaluation_interval": interval,
                       "scrape_timeout": f"{int(scrape_interval * 900)}ms"},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [{"job_name": job, "metrics_path": "/metrics",
                                "static_configs": [{"targets": targets}]} for job, targets in jobs.items()]}


@contextmanager
def private_prometheus(jobs: Mapping[str, list[str]], scrape_interval: float = 1.0,
                       rule_files: list[Path] | None = None, data: Path | None = None) -> Iterator[Prometheus]:
    """Start `prometheus` on a free loopback port, wait until it serves and every target has been scraped once,
    and stop it on exit. Samples go to `data` when given (kept, so a later server can query them again), else to
    a temporary folder removed on exit. Raises RuntimeError when the binary is missing or the server does not
    come up."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("the prometheus binary is not installed (Debian/Ubuntu: apt-get install prometheus)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="trellis-prometheus-") as tmp:
        path = Path(tmp) / "prometheus.yml"
        path.write_text(yaml.safe_dump(config(jobs, scrape_interval, rule_files or [])))
        log = open(Path(tmp) / "prometheus.log", "wb")  # noqa: SIM115 (lives with the process)
        proc = subprocess.Popen([binary, f"--config.file={path}", f"--storage.tsdb.path={data or Path(tmp) / 'data'}",
                                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                                stdout=subprocess.DEVNULL, stderr=log)
        server = Prometheus(f"http://127.0.0.1:{port}")
        try:
            _wait_scraped(server, proc, Path(tmp) / "prometheus.log", expected=bool(jobs))
            yield server
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def _wait_scraped(server: Prometheus, proc: subprocess.Popen[bytes], log: Path, expected: bool,
                  timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prometheus exited: {log.read_text()[-2000:]}")
        try:
            targets = server.targets()
            # No jobs (a server over kept data only): answering is enough.
            if all(t["health"] == "up" for t in targets) and (targets or not expected):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"prometheus targets not up after {timeout}s: {log.read_text()[-2000:]}")


def expand(expr: str, variables: Mapping[str, str]) -> str:
    """`expr` with every Grafana template variable replaced. Raises KeyError naming a variable with no value,
    so a dashboard query can never be sent half-expanded."""
    def value(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name not in variables:
            raise KeyError(f"no value for the dashboard variable ${name} in {expr!r}")
        return variables[name]

    return VARIABLE.sub(value, expr)


def grafana_intervals(range_seconds: float, max_points: int, scrape_interval: float) -> dict[str, str]:
    """$__interval, $__rate_interval and $__range as Grafana computes them for a panel: the interval is the
    range over the panel's data points, never below the data source's scrape interval; the rate interval is
    max(interval + scrape interval, 4 x scrape interval), so a rate() always spans at least four samples."""
    interval = max(scrape_interval, range_seconds / max_points)
    rate_interval = max(interval + scrape_interval, 4 * scrape_interval)
    return {"__interval": _duration(interval), "__rate_interval": _duration(rate_interval),
            "__range": _duration(range_seconds), "__interval_ms": str(int(interval * 1000)),
            "__range_s": str(int(range_seconds))}


def _duration(seconds: float) -> str:
    return f"{int(round(seconds * 1000))}ms"
