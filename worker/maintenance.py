"""Operations chores of a worker process: publishes its slot count, exposes queue depth on its `/metrics`,
purges audit records past the retention (AUDIT_RETENTION_DAYS) every AUDIT_PURGE_INTERVAL_SECONDS, and
writes the worker's heartbeat row for the task console's worker list (`WorkerPresence`), and removes what code
sandboxes of dead workers left behind (their folders, any process still in them) at start and every minute.

The purge is one DELETE by age, idempotent, so every worker may run it; a thread rather than a Huey periodic
task because a long chore must not take a run's slot."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from prometheus_client import REGISTRY

from app.metrics import QueueCollector, metrics
from app.providers.sandbox_reaper import reap_leftovers
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


class WorkerPresence:
    """Every `interval` seconds: this worker's heartbeat row (threads, runs held). `stop` removes the row."""

    def __init__(self, container: Container, worker_id: str, busy: Callable[[], int], interval: float) -> None:
        self._container = container
        self._worker_id = worker_id
        self._busy = busy
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        ops = self._container.ops
        if ops is not None:
            ops.workers.beat(self._worker_id, self._container.settings.worker_threads, self._busy())

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="worker-presence", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)  # a beat in flight must not write the row back after we delete it
        ops = self._container.ops
        try:
            if ops is not None:
                ops.workers.leave(self._worker_id)
        except Exception:  # the process is exiting; a stale row ages out of the list
            log.warning("could not remove the worker's heartbeat row", exc_info=True)

    def _loop(self) -> None:
        while True:
            try:
                self.beat()
            except Exception:  # a database blip skips one beat; the list shows the age
                log.exception("worker heartbeat row not written")
            if self._stop.wait(self._interval):
                return


class SandboxJanitor:
    """Every `interval` seconds, `reap_leftovers` of the code sandbox (a folder older than the sandbox's wall
    limit plus a margin cannot belong to a live execution)."""

    def __init__(self, max_age_seconds: float, interval: float = 60.0) -> None:
        self._max_age = max_age_seconds
        self._interval = interval
        self._stop = threading.Event()

    def sweep(self) -> None:
        reaped = reap_leftovers(max_age_seconds=self._max_age)
        if reaped.folders or reaped.processes:
            log.warning("removed leftovers of dead sandboxes",
                        extra={"folders": reaped.folders, "processes": reaped.processes})

    def _loop(self) -> None:
        while True:
            try:
                self.sweep()
            except Exception:  # a failed sweep is retried on the next pass
                log.exception("sandbox sweep failed")
            if self._stop.wait(self._interval):
                return

    def start(self) -> None:
        threading.Thread(target=self._loop, name="sandbox-janitor", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()


class Maintenance:
    """The chores started by `start_maintenance`; `stop` ends them."""

    def __init__(self, *chores: AuditPurger | SandboxJanitor) -> None:
        self._chores = chores

    def stop(self) -> None:
        for chore in self._chores:
            chore.stop()


def start_maintenance(container: Container) -> Maintenance:
    """Call once in the worker process, after the container is built."""
    metrics().worker_slots.set(container.settings.worker_threads)
    if container.ops is not None:
        REGISTRY.register(QueueCollector(container.ops.console.probe))
    purger = AuditPurger(container)
    purger.start()
    janitor = SandboxJanitor(max_age_seconds=container.settings.sandbox_wall_seconds + 120)
    janitor.start()
    return Maintenance(purger, janitor)
