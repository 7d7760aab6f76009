"""Background threads of a worker: the heartbeat that renews every lease this process holds, and the reaper
that re-queues runs whose worker died (safe to run in every worker: rows are claimed with SKIP LOCKED)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from app.metrics import metrics
from app.services.leases import Lease, Leases

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews all tracked leases in one pass every `interval` seconds."""

    def __init__(self, leases: Leases, interval: float) -> None:
        self._leases = leases
        self._interval = interval
        self._held: dict[str, Lease] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def track(self, lease: Lease) -> None:
        with self._lock:
            self._held[lease.run_id] = lease

    def untrack(self, lease: Lease) -> None:
        with self._lock:
            self._held.pop(lease.run_id, None)

    def held(self) -> list[Lease]:
        with self._lock:
            return list(self._held.values())

    def beat(self) -> None:
        held = self.held()
        m = metrics()
        m.worker_heartbeats.inc()
        m.worker_last_heartbeat.set_to_current_time()
        if held:
            for lease in self._leases.renew(held):
                log.warning("lease lost", extra={"run_id": lease.run_id, "epoch": lease.epoch})
                m.leases_lost.inc()
                self.untrack(lease)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="lease-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.beat()
            except Exception:  # a database blip must not kill the heartbeat; the next beat retries
                log.exception("lease heartbeat failed")


# A paused queue's runs wait on purpose: none of them counts as a lost message (nor ages into a failure).
PAUSED_LOST_AFTER = 10 * 365 * 86400.0


class Reaper:
    """Every `interval` seconds: re-queue runs with expired leases or lost queue messages, fail hopeless ones.
    While `paused("runs")`, queued runs are left alone; while `paused("indexing")`, documents are."""

    def __init__(self, leases: Leases, enqueue: Callable[[str], None], failed: Callable[[str], None],
                 interval: float, max_attempts: int, max_seconds: float, requeue_after: float,
                 pending: Callable[[], int] | None = None, requeue_after_when_empty: float = 5.0,
                 documents: Callable[[], object] | None = None,
                 paused: Callable[[str], bool] | None = None) -> None:
        self._leases = leases
        self._paused = paused or (lambda _queue: False)
        # Knowledge-base indexing leases: a callable that re-queues documents whose worker died (issue 4).
        self._documents = documents
        self._pending = pending
        self._requeue_after_when_empty = requeue_after_when_empty
        self._enqueue = enqueue
        self._failed = failed
        self._interval = interval
        self._max_attempts = max_attempts
        self._max_seconds = max_seconds
        self._requeue_after = requeue_after
        self._stop = threading.Event()

    def _lost_after(self) -> float:
        # An empty queue cannot hold the message of a queued run: it was lost (Redis restarted empty, or the
        # enqueue never arrived), so re-queue after a short grace instead of the long default.
        try:
            if self._pending is not None and self._pending() == 0:
                return self._requeue_after_when_empty
        except Exception:  # queue unreachable: keep the long, safe threshold
            pass
        return self._requeue_after

    def sweep(self) -> list[str]:
        lost_after = PAUSED_LOST_AFTER if self._paused("runs") else self._lost_after()
        report = self._leases.reap(self._max_attempts, self._max_seconds, lost_after)
        metrics().runs_reaped.labels("requeued").inc(len(report.requeued))
        metrics().runs_reaped.labels("failed").inc(len(report.failed))
        for run_id in report.requeued:
            self._enqueue(run_id)
        for run_id in report.failed:
            self._failed(run_id)
        if report.requeued or report.failed:
            log.warning("reaper swept runs", extra={"requeued": len(report.requeued), "failed": len(report.failed)})
        if self._documents is not None and not self._paused("indexing"):
            self._documents()
        return report.requeued

    def start(self) -> None:
        threading.Thread(target=self._loop, name="run-reaper", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.sweep()
            except Exception:
                log.exception("reaper sweep failed")
