"""tools: installed tool providers and built-in credentials per workspace

Revision ID: 0007
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    op.create_table(
        "tool_providers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("provider_type", sa.String(length=16), nullable=False),
        sa.Column("provider_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("config", json_type, nullable=False),
        sa.Column("credentials", sa.Text(), nullable=True),
        sa.Column("credential_names", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"],
                                name=op.f("fk_tool_providers_workspace_id_workspaces"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tool_providers")),
        sa.UniqueConstraint("workspace_id", "provider_type", "provider_id",
                            name=op.f("uq_tool_providers_workspace_id_provider_type_provider_id")),
    )
    op.create_index(op.f("ix_tool_providers_workspace_id"), "tool_providers", ["workspace_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_tool_providers_workspace_id"), table_name="tool_providers")
    op.drop_table("tool_providers")
