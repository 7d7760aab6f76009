"""Real Postgres and Redis for tests of the production path: the machine's own servers when they answer,
otherwise throwaway ones started from installed binaries; skipped only when neither is possible."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from bench.stack import free_port

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")




def _pg_ok(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _redis_ok(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


class PrivatePostgres:
    """A throwaway PostgreSQL server from the installed binaries, on a free port; stop and start it at will
    (the data folder survives `stop`)."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            pytest.skip("no initdb binary installed for a private PostgreSQL")
        self.bindir = os.path.dirname(bins[-1])
        self.data = tempfile.mkdtemp(prefix="trellis-pg-")
        self.port = free_port()
        self.user = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
        if self.user:
            shutil.chown(self.data, "postgres")
        subprocess.run(self.user + [f"{self.bindir}/initdb", "-D", self.data, "-U", "postgres", "-A", "trust"],
                       check=True, capture_output=True)
        self.running = False
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(self.user + [f"{self.bindir}/pg_ctl", "-D", self.data, *args], check=True,
                       capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
        self._ctl("-o", options, "-l", os.path.join(self.data, "server.log"), "-w", "start")
        self.running = True

    def stop(self) -> None:
        if self.running:
            self._ctl("-m", "fast", "-w", "stop")  # fast: the server closes every client connection
            self.running = False

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)


@contextmanager
def start_postgres() -> Iterator[str]:
    if _pg_ok(PG_URL):
        yield PG_URL
        return
    server = PrivatePostgres()
    server.start()
    try:
        yield server.url
    finally:
        server.remove()


@contextmanager
def start_redis() -> Iterator[str]:
    if _redis_ok(REDIS_URL):
        yield REDIS_URL
        return
    binary = shutil.which("redis-server")
    if not binary:
        pytest.skip("no Redis server reachable and no redis-server binary installed")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        if _redis_ok(url):
            break
        time.sleep(0.05)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass(frozen=True)
class ServiceEndpoints:
    pg_admin_url: str
    redis_url: str

    def _admin(self):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(self.pg_admin_url, autocommit=True, connect_timeout=5)

    def create_database(self, name: str) -> str:
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.pg_admin_url.rsplit("/", 1)[0] + "/" + name

    def drop_database(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
