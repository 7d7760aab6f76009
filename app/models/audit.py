"""Operations tables: the audit trail of API calls, one row per LLM call (usage and cost) and per-app budgets.

Audit and usage rows carry ids without foreign keys on purpose: they must outlive the app or key they name
(an audit trail that disappears with the app it audits is no trail), and their writes must never contend with
the rows they describe. Money is stored as integer nanos (1e-9 currency units): exact sums on every database.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, id_column, utcnow


class AuditRecord(Base):
    """One Service API or management call: who (key or admin token id), which app, what, outcome, latency."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_workspace_created", "workspace_id", "created_at"),
                      Index("ix_audit_log_created", "created_at"))

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str | None] = mapped_column(String(36), default=None)
    actor_type: Mapped[str] = mapped_column(String(16), default="anonymous")  # app_key | admin_token | anonymous
    actor_id: Mapped[str | None] = mapped_column(String(36), default=None)
    app_id: Mapped[str | None] = mapped_column(String(36), default=None)
    method: Mapped[str] = mapped_column(String(8))
    endpoint: Mapped[str] = mapped_column(String(255))  # the route template, e.g. /v1/workflows/run/<run_id>
    path: Mapped[str] = mapped_column(String(512))
    status: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LlmCall(Base):
    """One model call as billed: tokens, cost from the price table, latency and time to first token.
    Written by the worker per call, including calls of attempts that were later abandoned (they were paid)."""

    __tablename__ = "llm_calls"
    __table_args__ = (Index("ix_llm_calls_app_created", "app_id", "created_at"),
                      Index("ix_llm_calls_created", "created_at"))

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str | None] = mapped_column(String(36), default=None)
    app_id: Mapped[str | None] = mapped_column(String(36), default=None)
    run_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    kind: Mapped[str] = mapped_column(String(16), default="chat")  # chat | embedding
    provider: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(128))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    price_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(8), default="USD")
    latency: Mapped[float] = mapped_column(Float, default=0.0)
    ttft: Mapped[float | None] = mapped_column(Float, default=None)
    outcome: Mapped[str] = mapped_column(String(16), default="success")  # success | error
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AppBudget(Base):
    """A monthly cap per app (calendar month, UTC). None means no cap of that kind."""

    __tablename__ = "app_budgets"

    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(36))
    monthly_token_budget: Mapped[int | None] = mapped_column(BigInteger, default=None)
    monthly_cost_budget_nanos: Mapped[int | None] = mapped_column(BigInteger, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
