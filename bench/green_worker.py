"""Bench only: the worker process of `worker.main` on gevent, with Huey's greenlet workers in place of threads, to
compare the two (bench/worker_classes.py). The product's worker keeps thread workers; nothing else imports this.

gevent has to patch the standard library before anything imports socket, threading or psycopg: psycopg picks its
wait function when it is imported, and only with `select` patched does it pick a cooperative one instead of the C
loop that would block every greenlet. So the patch comes first in `main`, then the worker is imported. The
consumer's worker type is not a setting (the product runs threads only), so it is overridden here, where Huey
builds the consumer.

Usage: python -m bench.green_worker (same environment as python -m worker.main)."""

from __future__ import annotations

from typing import Any


def main() -> None:
    from gevent import monkey

    monkey.patch_all()

    import huey.api

    from worker import main as worker_main

    build_consumer = huey.api.Huey.create_consumer

    def greenlet_consumer(self: huey.api.Huey, **options: Any) -> Any:
        return build_consumer(self, **{**options, "worker_type": "greenlet"})

    huey.api.Huey.create_consumer = greenlet_consumer  # type: ignore[method-assign]
    worker_main.main()


if __name__ == "__main__":
    main()
