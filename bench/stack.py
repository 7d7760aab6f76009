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
    worker_module: str = "worker.main"
    root: Path = ROOT  # the source tree the processes run (another checkout for before/after comparisons)

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
        proc = subprocess.Popen([sys.executable, "-m", self.worker_module], cwd=self.root,
                                env={**self.env, "WORKER_HEALTH_PORT": str(port)},
                                stdout=subprocess.DEVNULL, stderr=log)
        self.workers.append(proc)
        self.health_ports.append(port)
        wait_http(f"http://127.0.0.1:{port}/ready")
        return proc

    def processes(self) -> dict[str, int]:
        """Pid of every process of the stack by role: the gunicorn master, each API worker, each worker."""
        import psutil

        pids = {"api master": self.api.pid}
        children = sorted(child.pid for child in psutil.Process(self.api.pid).children())
        pids.update({f"api {i}": pid for i, pid in enumerate(children, 1)})
        pids.update({f"worker {i}": proc.pid for i, proc in enumerate(self.workers, 1)})
        return pids


def rss_mb(pid: int) -> float:
    """Resident memory of `pid` in MiB (NaN once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


@contextmanager
def scratch_postgres(admin_url: str = "postgresql://postgres@127.0.0.1:5432/postgres",
                     redis_url: str = "redis://127.0.0.1:6379/0") -> Iterator[dict[str, str]]:
    """The production backends for one stack: a new database on the machine's Postgres (dropped on exit, with
    any connection still open) and a private Huey queue name on its Redis. Yields the settings' environment."""
    import uuid

    import psycopg

    name = f"trellis_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"DATABASE_URL": admin_url.rsplit("/", 1)[0] + f"/{name}", "REDIS_URL": redis_url,
               "HUEY_NAME": f"bench-{uuid.uuid4().hex[:6]}"}
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
def running_stack(home: Path, extra_env: dict[str, str] | None = None, workers: int = 1,
                  api_args: tuple[str, ...] = (), worker_module: str = "worker.main",
                  root: Path = ROOT) -> Iterator[Stack]:
    """Migrate, then start gunicorn and `workers` worker processes with the given settings. `api_args` are
    added to gunicorn's command line (which wins over gunicorn.conf.py, e.g. `-k gevent`); `worker_module` is
    the module each worker process runs; `root` the source tree they run (this one unless comparing)."""
    port = free_port()
    env = {**os.environ, "TRELLIS_HOME": str(home), "PORT": str(port), "HOST": "127.0.0.1",
           "WORKER_HEALTH_HOST": "127.0.0.1", "WEB_CONCURRENCY": "2", "LOG_LEVEL": "WARNING",
           **(extra_env or {})}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    home.mkdir(parents=True, exist_ok=True)
    migrate = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db-upgrade"], cwd=root, env=env,
                             capture_output=True, text=True)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    log = open(home / "api.log", "ab")  # noqa: SIM115 (lives with the process)
    api = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", *api_args, "wsgi:app"],
                           cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=log)
    stack = Stack(f"http://127.0.0.1:{port}", env, api, [], [], worker_module, root)
    try:
        wait_http(f"{stack.base_url}/health")
        for _ in range(workers):
            stack.start_worker()
        yield stack
    finally:
        for proc in [api, *stack.workers]:
            _stop(proc)
