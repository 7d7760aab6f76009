"""app triggers: schedules and webhooks that start runs

Revision ID: 0010
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    op.create_table(
        "app_triggers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("node_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("cron", sa.String(length=255), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("config", json_type, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name=op.f("fk_app_triggers_app_id_apps"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_triggers")),
    )
    op.create_index(op.f("ix_app_triggers_app_id"), "app_triggers", ["app_id"])
    op.create_index(op.f("ix_app_triggers_workspace_id"), "app_triggers", ["workspace_id"])
    op.create_index(op.f("ix_app_triggers_next_fire_at"), "app_triggers", ["next_fire_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_app_triggers_next_fire_at"), table_name="app_triggers")
    op.drop_index(op.f("ix_app_triggers_workspace_id"), table_name="app_triggers")
    op.drop_index(op.f("ix_app_triggers_app_id"), table_name="app_triggers")
    op.drop_table("app_triggers")
