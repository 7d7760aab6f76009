"""The one place that turns Settings into backends: database, queue, event log, LLM gateway and services.

This is the composition root, so it is the one module of `app` allowed to import `worker` (for the Huey
instance and its task set, which API and consumer must share)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from app.db import make_engine, make_session_factory
from app.engine.ports import LLMGateway
from app.engine.runner import Limits
from app.providers.events import EventLog
from app.providers.llm import LLMRouter, UnconfiguredLLM, build_openai_gateway
from app.services.accounts import Accounts
from app.services.apps import Apps
from app.services.queue import TaskQueue
from app.services.runs import Runs
from app.settings import Settings

if TYPE_CHECKING:
    from huey import Huey

    from worker.runtime import WorkerRuntime


@dataclass
class Container:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    events: EventLog
    llm: LLMGateway
    huey: Huey
    queue: TaskQueue
    accounts: Accounts
    apps: Apps
    runs: Runs
    redis: Any = None

    @property
    def limits(self) -> Limits:
        return Limits(max_steps=self.settings.max_steps, max_seconds=self.settings.max_execution_seconds)

    def database_ok(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def close(self) -> None:
        self.events.close()
        self.engine.dispose()


def _no_runtime() -> WorkerRuntime:
    raise RuntimeError("tasks execute only in the worker process")


def build_llm(settings: Settings) -> LLMGateway:
    if not settings.openai_api_key and not settings.openai_base_url:
        return UnconfiguredLLM()
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    return LLMRouter(default=build_openai_gateway(settings.openai_base_url, key, settings.llm_timeout_seconds))


def build(settings: Settings, runtime: Callable[[], WorkerRuntime] = _no_runtime) -> Container:
    """Construct every backend from settings. Opens no connection until first use."""
    from worker import create_huey, register_tasks
    from worker.queue import HueyTaskQueue

    engine = make_engine(settings.sqlalchemy_url)
    sessions = make_session_factory(engine)
    redis_client = None
    events: EventLog
    if settings.redis_url:
        import redis

        from app.providers.events.redis_stream import RedisStreamEventLog

        redis_client = redis.Redis.from_url(settings.redis_url, socket_timeout=10, socket_connect_timeout=5,
                                            health_check_interval=30)
        events = RedisStreamEventLog(redis_client)
    else:
        from app.providers.events.sql_table import SqlEventLog

        events = SqlEventLog(sessions)
    huey = create_huey(settings)
    queue = HueyTaskQueue(huey, register_tasks(huey, runtime))
    apps = Apps(sessions)
    return Container(settings=settings, engine=engine, sessions=sessions, events=events, llm=build_llm(settings),
                     huey=huey, queue=queue, accounts=Accounts(sessions), apps=apps,
                     runs=Runs(sessions, apps, events, queue), redis=redis_client)
