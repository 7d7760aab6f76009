"""Task-queue state shared by the API and every worker: paused queues and the registry of worker processes.

Neither table belongs to a workspace: the queue and the workers serve the whole deployment."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class QueuePause(Base):
    """A row per paused queue (`runs` or `indexing`); resuming deletes it. Workers start nothing from a paused
    queue: its runs or documents stay queued until it is resumed."""

    __tablename__ = "queue_pauses"

    queue: Mapped[str] = mapped_column(String(32), primary_key=True)
    paused_at: Mapped[datetime] = mapped_column(default=utcnow)
    paused_by: Mapped[str | None] = mapped_column(String(64), default=None)  # admin token id, or "cli"


class WorkerProcess(Base):
    """A worker process and its last heartbeat, written by the worker itself every few seconds."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)  # host:pid:random, as in lease_owner
    threads: Mapped[int] = mapped_column(Integer, default=0)
    busy: Mapped[int] = mapped_column(Integer, default=0)  # runs it holds a lease on
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
