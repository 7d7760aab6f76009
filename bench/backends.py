"""The settings' environment of a benchmark stack: embedded backends for the quick (smoke test) variants, or a
scratch database on the machine's Postgres plus its Redis for the production path."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bench.run import ADMIN
from bench.stack import scratch_postgres

BASE = {"ADMIN_TOKEN": ADMIN, "OPENAI_API_KEY": "sk-bench", "LOG_LEVEL": "WARNING", "WORKER_THREADS": "64",
        "GUNICORN_THREADS": "64"}


@contextmanager
def backends(quick: bool) -> Iterator[dict[str, str]]:
    """Yield the environment: `BASE` alone when `quick` (embedded SQLite and queue), else `BASE` with a new
    Postgres database (dropped on exit) and the machine's Redis."""
    if quick:
        yield dict(BASE)
        return
    with scratch_postgres() as production:
        yield {**BASE, **production}
