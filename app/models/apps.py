"""Apps, their workflow versions (the imported DSL) and the per-app API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, id_column, utcnow


class App(Base):
    __tablename__ = "apps"

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    mode: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    icon: Mapped[str] = mapped_column(String(255), default="")
    published_version_id: Mapped[str | None] = mapped_column(String(36), default=None)
    # Concurrency cap on queued + running runs of this app; 0 = only the global cap applies (migration 0005).
    max_active_runs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WorkflowVersion(Base):
    """One immutable copy of an app's DSL. `graph` is the parsed `workflow` section; `dsl` the raw YAML."""

    __tablename__ = "workflow_versions"
    __table_args__ = (UniqueConstraint("app_id", "number"),)

    id: Mapped[str] = id_column()
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="published")  # draft | published
    dsl_version: Mapped[str] = mapped_column(String(16), default="")
    dsl: Mapped[str] = mapped_column(Text)
    workflow: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """A Service API key (`app-...`); stored hashed, shown once."""

    __tablename__ = "api_keys"

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    app_id: Mapped[str | None] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="app")  # app | dataset
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
