"""What starts an app's runs besides the API: one row per trigger node of its published version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class AppTrigger(Base):
    """`kind` schedule | webhook. A webhook's `id` is its unguessable URL token; a schedule's `next_fire_at`
    is when the scheduler fires it next (claimed by moving it forward, so two workers never both fire it)."""

    __tablename__ = "app_triggers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[str] = mapped_column(String(36), index=True)
    node_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    cron: Mapped[str | None] = mapped_column(String(255), default=None)
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)
    next_fire_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    last_fired_at: Mapped[datetime | None] = mapped_column(default=None)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
