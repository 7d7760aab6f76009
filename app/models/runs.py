"""Workflow runs (the source of truth of every execution), node executions (checkpoints), end users and
the embedded run-event log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, id_column, utcnow


class EndUser(Base):
    """Dify's `user` string, scoped to an app."""

    __tablename__ = "end_users"
    __table_args__ = (UniqueConstraint("app_id", "session_id"),)

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkflowRun(Base):
    """Written before it is queued; a worker leases it (owner, expiry, fencing epoch) to execute it."""

    __tablename__ = "workflow_runs"
    __table_args__ = (
        Index("ix_workflow_runs_app_created", "app_id", "created_at"),
        Index("ix_workflow_runs_status_lease", "status", "lease_expires_at"),
        Index("ix_workflow_runs_app_status", "app_id", "status"),
        Index("uq_workflow_runs_app_idempotency", "app_id", "idempotency_key", unique=True),
    )

    id: Mapped[str] = id_column()
    task_id: Mapped[str] = mapped_column(String(36), unique=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    workflow_version_id: Mapped[str] = mapped_column(ForeignKey("workflow_versions.id", ondelete="CASCADE"))
    end_user_id: Mapped[str | None] = mapped_column(ForeignKey("end_users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(32), default="queued")
    response_mode: Mapped[str] = mapped_column(String(16), default="blocking")
    created_from: Mapped[str] = mapped_column(String(32), default="service-api")
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    outputs: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    elapsed_time: Mapped[float] = mapped_column(Float, default=0.0)
    exceptions_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    lease_owner: Mapped[str | None] = mapped_column(String(128), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    enqueued_at: Mapped[datetime | None] = mapped_column(default=None)
    # Idempotency-Key of the request that created the run, and the hash of its body (migration 0005).
    idempotency_key: Mapped[str | None] = mapped_column(String(255), default=None)
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    # Cost of the run's LLM calls in 1e-9 currency units (migration 0003; see app/services/pricing.py).
    total_price_nanos: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    price_currency: Mapped[str] = mapped_column(String(8), default="USD", server_default="USD")
    # The run's trace (migration 0013; app/services/run_trace.py): trace id and reserved root span id, the
    # client's parent span, Dify's external trace id. None when tracing was off at submission.
    trace: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class NodeExecution(Base):
    """One finished (or failed) node of a run: the checkpoint a resumed run restores from."""

    __tablename__ = "node_executions"
    __table_args__ = (Index("ix_node_executions_run_index", "run_id", "index"),)

    id: Mapped[str] = id_column()
    run_id: Mapped[str] = mapped_column(ForeignKey("workflow_runs.id", ondelete="CASCADE"))
    node_id: Mapped[str] = mapped_column(String(255))
    node_type: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(255), default="")
    index: Mapped[int] = mapped_column(Integer)
    predecessor_node_id: Mapped[str | None] = mapped_column(String(255), default=None)
    status: Mapped[str] = mapped_column(String(32))
    inputs: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    process_data: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    outputs: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    edge_handle: Mapped[str | None] = mapped_column(String(255), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    elapsed_time: Mapped[float] = mapped_column(Float, default=0.0)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    execution_metadata: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class RunEvent(Base):
    """The embedded run-event log (Redis Streams replace it in production)."""

    __tablename__ = "run_events"
    __table_args__ = (Index("ix_run_events_run_id_id", "run_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(36))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
