"""durability: idempotency keys on runs, per-app concurrency caps

Revision ID: 0005
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workflow_runs") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(255), nullable=True))
        batch.add_column(sa.Column("request_hash", sa.String(64), nullable=True))
        batch.create_index("ix_workflow_runs_app_status", ["app_id", "status"])
        batch.create_index("uq_workflow_runs_app_idempotency", ["app_id", "idempotency_key"], unique=True)
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("max_active_runs", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("max_active_runs")
    with op.batch_alter_table("workflow_runs") as batch:
        batch.drop_index("uq_workflow_runs_app_idempotency")
        batch.drop_index("ix_workflow_runs_app_status")
        batch.drop_column("request_hash")
        batch.drop_column("idempotency_key")
