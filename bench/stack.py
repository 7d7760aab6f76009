"""Start the real processes (gunicorn API, workers) on free ports, for integration tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    base_url: str
    env: dict[str, str]
    api: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]
    health_ports: list[int]

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
        """Rows of `sql` against the stack's own database (Postgres or the embedded SQLite file)."""
        from sqlalchemy import create_engine, text

        from app.settings import Settings

        settings = Settings(database_url=self.env.get("DATABASE_URL"), trellis_home=Path(self.env["TRELLIS_HOME"]))
        engine = create_engine(settings.sqlalchemy_url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(sql), params or {}))
        finally:
            engine.dispose()

    def start_worker(self) -> subprocess.Popen[bytes]:
        port = free_port()
        log = open(Path(self.env["TRELLIS_HOME"]) / "worker.log", "ab")  # noqa: SIM115 (lives with the process)
        proc = subprocess.Popen([sys.executable, "-m", "worker.main"], cwd=ROOT,
                                env={**self.env, "WORKER_HEALTH_PORT": str(port)},
                                stdout=subprocess.DEVNULL, stderr=log)
        self.workers.append(proc)
        self.health_ports.append(port)
        wait_http(f"http://127.0.0.1:{port}/ready")
        return proc


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout}s")


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def running_stack(home: Path, extra_env: dict[str, str] | None = None, workers: int = 1) -> Iterator[Stack]:
    """Migrate, then start gunicorn and `workers` worker processes with the given settings."""
    port = free_port()
    env = {**os.environ, "TRELLIS_HOME": str(home), "PORT": str(port), "HOST": "127.0.0.1",
           "WORKER_HEALTH_HOST": "127.0.0.1", "WEB_CONCURRENCY": "2", "LOG_LEVEL": "WARNING",
           **(extra_env or {})}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    home.mkdir(parents=True, exist_ok=True)
    migrate = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db-upgrade"], cwd=ROOT, env=env,
                             capture_output=True, text=True)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    log = open(home / "api.log", "ab")  # noqa: SIM115 (lives with the process)
    api = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
                           env=env, stdout=subprocess.DEVNULL, stderr=log)
    stack = Stack(f"http://127.0.0.1:{port}", env, api, [], [])
    try:
        wait_http(f"{stack.base_url}/health")
        for _ in range(workers):
            stack.start_worker()
        yield stack
    finally:
        for proc in [api, *stack.workers]:
            _stop(proc)
