"""The operations services of one deployment, built together from Settings: price table, usage recorder,
audit trail, usage reports, budgets, the task console, queue pauses and the worker registry. `app.wiring`
builds one `Operations` per container."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.providers.events import EventLog
from app.services.audit import AuditLog
from app.services.budgets import Budgets
from app.services.metering import UsageRecorder
from app.services.pricing import PriceTable
from app.services.queue import TaskQueue
from app.services.queues import QueueControl
from app.services.tasks import TaskConsole
from app.services.usage import Usage
from app.services.workers import WorkerRegistry
from app.settings import Settings


@dataclass
class Operations:
    pricing: PriceTable
    recorder: UsageRecorder
    audit: AuditLog
    usage: Usage
    budgets: Budgets
    console: TaskConsole
    queues: QueueControl
    workers: WorkerRegistry

    def close(self) -> None:
        self.audit.close()


def build_operations(settings: Settings, sessions: sessionmaker[Session], huey: Any, queue: TaskQueue,
                     events: EventLog) -> Operations:
    """Raises InvalidParam when the PRICING setting is malformed (fail at start, not at billing time)."""
    pricing = PriceTable.parse(settings.pricing)
    queues = QueueControl(sessions, queue)
    workers = WorkerRegistry(sessions, stale_seconds=settings.lease_seconds)
    return Operations(pricing=pricing, recorder=UsageRecorder(sessions, pricing), audit=AuditLog(sessions),
                      usage=Usage(sessions, pricing.currency),
                      budgets=Budgets(sessions, pricing.currency, settings.cache_seconds),
                      console=TaskConsole(sessions, huey, queue, events, settings.stuck_run_seconds,
                                          queues=queues, workers=workers),
                      queues=queues, workers=workers)
