"""Tool providers a workspace installed (OpenAPI schemas, MCP servers, published workflows, plugins) and the
credentials of built-in providers. Credentials are one Fernet token (`credentials`), never plain text."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, id_column, utcnow


class ToolProviderRecord(Base):
    """One provider of a workspace. `provider_type` is api | mcp | workflow | plugin, or builtin for a row that
    only holds a built-in's credentials; `provider_id` is the id tool nodes name (unique per type)."""

    __tablename__ = "tool_providers"
    __table_args__ = (UniqueConstraint("workspace_id", "provider_type", "provider_id"),)

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    provider_type: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), default="")
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    credentials: Mapped[str | None] = mapped_column(Text, default=None)  # Fernet token of a JSON object
    # Names of the credentials that are set (shown by the API instead of the values).
    credential_names: Mapped[str] = mapped_column(Text, default="")  # comma-separated
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
