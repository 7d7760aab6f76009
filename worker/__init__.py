"""The Huey side of Trellis: `create_huey` picks Redis or SQLite from Settings and `register_tasks` declares
every task in one place, so the API (which only enqueues) and the consumer see the same task set."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from huey import Huey, RedisHuey, SqliteHuey, crontab

from app.settings import Settings

if TYPE_CHECKING:
    from worker.runtime import WorkerRuntime


class _NoRevocation(Huey):
    """Huey without task revocation. Huey reads two revocation keys before each task and deletes one after it:
    two storage round trips per run (about 4 % of a worker's CPU on LLM runs, py-spy, issue 18) for a feature
    Trellis does not use: a run is stopped through its row, and a duplicate message finds it leased or final.
    Revoking is refused rather than silently ignored."""

    def is_revoked(self, task: Any, timestamp: Any = None, peek: bool = True) -> bool:
        return False

    def revoke(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("Trellis queues do not revoke tasks: stop the run instead")

    revoke_all = revoke_by_id = revoke

    def delete(self, key: str) -> Any:
        if key.startswith("r:"):  # the revocation flag of a task that ran: never set here (see `revoke`)
            return False
        return super().delete(key)


class _RedisQueue(_NoRevocation, RedisHuey):
    pass


class _SqliteQueue(_NoRevocation, SqliteHuey):
    pass


def create_huey(settings: Settings) -> Huey:
    """Redis when REDIS_URL is set (list key `huey.redis.<name>`), else a SQLite file under TRELLIS_HOME.
    Results are not stored: the run row is the result. Tasks cannot be revoked (see `_NoRevocation`)."""
    if settings.redis_url:
        from redis import ConnectionPool

        # Every external call has a timeout; the blocking pop waits read_timeout=1 s, well inside socket_timeout.
        pool = ConnectionPool.from_url(settings.redis_url, socket_timeout=10, socket_connect_timeout=5,
                                       health_check_interval=30)
        return _RedisQueue(settings.huey_name, connection_pool=pool, results=False, blocking=True, read_timeout=1)
    path = settings.ensure_home() / "queue.db"
    return _SqliteQueue(settings.huey_name, filename=str(path), results=False, timeout=30)


@dataclass(frozen=True)
class Tasks:
    run_workflow: Any
    index_document: Any = None
    fire_schedules: Any = None


def register_tasks(huey: Huey, runtime: Callable[[], WorkerRuntime]) -> Tasks:
    """Declare the tasks. `runtime` is called inside a task to reach the worker's services; the API never
    executes tasks, so it passes a callable that fails loudly."""
    from worker import tasks

    @huey.task(name="run_workflow", retries=0)
    def run_workflow(run_id: str) -> None:
        tasks.run_workflow(runtime(), run_id)

    @huey.task(name="index_document", retries=0)
    def index_document(document_id: str) -> None:
        tasks.index_document(runtime(), document_id)

    # Every minute, in every consumer: each due schedule is claimed once (compare-and-set), so several workers
    # enqueueing this at the same minute still fire a schedule once.
    @huey.periodic_task(crontab(minute="*"), name="fire_schedules", retries=0)
    def fire_schedules() -> None:
        tasks.fire_schedules(runtime())

    return Tasks(run_workflow=run_workflow, index_document=index_document, fire_schedules=fire_schedules)
