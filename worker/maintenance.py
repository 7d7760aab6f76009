"""Operations chores of a worker process: publishes its slot count, exposes queue depth on its `/metrics`,
and purges audit records past the retention (AUDIT_RETENTION_DAYS) every AUDIT_PURGE_INTERVAL_SECONDS.

The purge is one DELETE by age, idempotent, so every worker may run it; a thread rather than a Huey periodic
task because the consumer runs with periodic tasks off and a chore must not take a run's slot."""

from __future__ import annotations

import logging
import threading

from prometheus_client import REGISTRY

from app.metrics import QueueCollector, metrics
from app.wiring import Container

log = logging.getLogger(__name__)


class AuditPurger:
    def __init__(self, container: Container) -> None:
        self._container = container
        self._stop = threading.Event()

    def purge_once(self) -> int:
        ops = self._container.ops
        if ops is None:
            return 0
        removed = ops.audit.purge(self._container.settings.audit_retention_days)
        if removed:
            log.info("audit records purged", extra={"removed": removed})
        return removed

    def start(self) -> None:
        threading.Thread(target=self._loop, name="audit-purge", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        interval = self._container.settings.audit_purge_interval_seconds
        while not self._stop.wait(interval):
            try:
                self.purge_once()
            except Exception:  # a database blip skips one pass; the next one catches up
                log.exception("audit purge failed")


def start_maintenance(container: Container) -> AuditPurger:
    """Call once in the worker process, after the container is built."""
    metrics().worker_slots.set(container.settings.worker_threads)
    if container.ops is not None:
        REGISTRY.register(QueueCollector(container.ops.console.probe))
    purger = AuditPurger(container)
    purger.start()
    return purger
