"""Entry 2: the worker process. Reads Settings from the environment, then runs the Huey consumer (thread
workers; SIGTERM is graceful; periodic tasks on: the trigger schedules fire each minute) with the lease
heartbeat, the reaper and the health port.

Equivalent to `huey_consumer -k thread -g TERM` plus those three threads; started with `python -m worker.main`."""

from __future__ import annotations

import logging
import os

from app.logs import configure_logging
from app.services import run_views
from app.settings import Settings
from app.wiring import build
from worker.health import start_health_server
from worker.leases import Reaper
from worker.maintenance import WorkerPresence, start_maintenance
from worker.runtime import WorkerRuntime, build_runtime

log = logging.getLogger("worker")


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, payloads=settings.log_payloads)
    holder: dict[str, WorkerRuntime] = {}
    container = build(settings, runtime=lambda: holder["runtime"])
    runtime = holder["runtime"] = build_runtime(container)

    def announce_failed(run_id: str) -> None:
        container.events.append(run_id, run_views.workflow_finished(container.runs.load(run_id)))

    reaper = Reaper(runtime.leases, container.queue.enqueue_run, announce_failed,
                    interval=settings.reaper_interval_seconds, max_attempts=settings.max_run_attempts,
                    max_seconds=settings.max_execution_seconds, requeue_after=max(60.0, settings.lease_seconds * 2),
                    pending=container.queue.pending, requeue_after_when_empty=settings.queue_lost_seconds,
                    documents=lambda: [container.queue.enqueue_index(document_id) for document_id in
                                       container.knowledge.indexer.reap(settings.max_run_attempts,
                                                                        max(60.0, settings.lease_seconds * 2))],
                    paused=container.ops.queues.is_paused if container.ops else None)
    runtime.keeper.start()
    reaper.start()
    maintenance = start_maintenance(container)  # slots gauge, queue-depth metrics, audit retention purge
    presence = WorkerPresence(container, runtime.worker_id, lambda: len(runtime.keeper.held()),
                              interval=settings.lease_seconds / 3)
    presence.start()
    host = os.environ.get("WORKER_HEALTH_HOST", "0.0.0.0")
    health = start_health_server(host, settings.worker_health_port,
                                 lambda: {"database": container.database_ok(), "queue": container.queue.ping()})
    embedded = not settings.redis_url
    consumer = container.huey.create_consumer(
        workers=settings.worker_threads, worker_type="thread", periodic=True, graceful_signal="TERM",
        shutdown_timeout=settings.worker_drain_seconds,
        # SQLite has no blocking pop: poll fast so an idle worker starts a run within ~50 ms.
        initial_delay=0.02 if embedded else 0.1, max_delay=0.05 if embedded else 1.0, backoff=1.5)
    log.info("worker started", extra={"worker_id": runtime.worker_id, "threads": settings.worker_threads,
                                      "health_port": settings.worker_health_port})
    try:
        consumer.run()
    finally:
        runtime.draining.set()
        maintenance.stop()
        presence.stop()
        reaper.stop()
        runtime.keeper.stop()
        # Whatever did not finish within the drain window goes back to the queue for another worker now,
        # instead of waiting for its lease to expire.
        for lease in runtime.keeper.held():
            runtime.leases.release(lease)
            try:
                container.queue.enqueue_run(lease.run_id)
            except Exception:
                log.warning("could not re-queue on shutdown; the reaper will", extra={"run_id": lease.run_id})
        health.shutdown()
        container.tracing.close()  # flush queued spans, within a short grace (issue 17)
        log.info("worker stopped", extra={"worker_id": runtime.worker_id})


if __name__ == "__main__":
    main()
