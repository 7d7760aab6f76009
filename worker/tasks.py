"""Task bodies: thin, id-only, safe to repeat. A duplicate message finds the run leased or final and returns.
A message from a paused queue is dropped: the run or document stays queued in the database, and resuming the
queue sends it again."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, OperationalError

from app.errors import ServiceUnavailable, TrellisError

if TYPE_CHECKING:
    from worker.runtime import WorkerRuntime

log = logging.getLogger(__name__)


def transient(exc: BaseException) -> bool:
    """Whether `exc` is a backend being unreachable for a while (database, Redis, the queue) or an error the
    error tree marks retryable: worth another attempt."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, TrellisError):
        return exc.retryable or isinstance(exc, ServiceUnavailable)
    return isinstance(exc, OperationalError | RedisError | ConnectionError | TimeoutError)


def run_workflow(runtime: WorkerRuntime, run_id: str) -> None:
    if runtime.draining.is_set():
        # Huey's thread workers outlive the consumer loop by a moment and may still pop a message while the
        # process exits; hand it straight back rather than start a run this process cannot finish.
        runtime.container.queue.enqueue_run(run_id)
        return
    if _paused(runtime, "runs"):
        log.info("runs queue paused; the run stays queued", extra={"run_id": run_id})
        return
    lease = runtime.leases.acquire(run_id, runtime.worker_id)
    if lease is None:
        log.info("run not claimable (running elsewhere, stopped or finished)", extra={"run_id": run_id})
        return
    runtime.keeper.track(lease)
    try:
        status = runtime.executor.execute(lease)
        log.info("run finished", extra={"run_id": run_id, "status": str(status), "attempt": lease.attempt})
    except Exception as exc:  # the process edge: log with the run id
        log.exception("run crashed", extra={"run_id": run_id})
        if transient(exc):
            raise  # a backend blip: the reaper re-queues the run when the lease ends, and the next attempt resumes
        # Anything else would crash every attempt (data the run cannot store, a bug): fail the run now with the
        # reason, rather than let its callers wait for three lost leases (issue 14).
        runtime.executor.abandon(lease, exc)
    finally:
        runtime.keeper.untrack(lease)


def index_document(runtime: WorkerRuntime, document_id: str) -> None:
    """Claim and index one document; a duplicate message finds it claimed or done and returns."""
    if _paused(runtime, "indexing"):
        log.info("indexing queue paused; the document stays waiting", extra={"document_id": document_id})
        return
    status = runtime.container.knowledge.indexer.index(document_id, runtime.worker_id)
    log.info("document indexing ended", extra={"document_id": document_id, "status": status or "not claimed"})


def _paused(runtime: WorkerRuntime, queue: str) -> bool:
    ops = runtime.container.ops
    return ops is not None and ops.queues.is_paused(queue)


def fire_schedules(runtime: WorkerRuntime) -> None:
    """Fire the trigger schedules that are due; safe in any number of workers at once (each is claimed)."""
    if runtime.draining.is_set() or _paused(runtime, "runs"):
        return
    fired = runtime.container.triggers.fire_due()
    if fired:
        log.info("schedules fired", extra={"runs": len(fired)})
