"""labels: message feedback, knowledge tags and bindings, document metadata fields and values

Revision ID: 0011
Revises: 0002, 0004 (datasets and chat messages, which these rows point at)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = ("0002", "0004")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"),
                                   ondelete="CASCADE")


def _stamp(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "message_feedbacks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("end_user_id", sa.String(length=36), nullable=False),
        sa.Column("rating", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=True),
        _stamp("created_at"), _stamp("updated_at"),
        _fk("message_feedbacks", "app_id", "apps"), _fk("message_feedbacks", "conversation_id", "conversations"),
        _fk("message_feedbacks", "message_id", "messages"), _fk("message_feedbacks", "end_user_id", "end_users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_feedbacks")),
        sa.UniqueConstraint("message_id", "end_user_id", name=op.f("uq_message_feedbacks_message_id_end_user_id")),
    )
    op.create_index("ix_message_feedbacks_app_created", "message_feedbacks", ["app_id", "created_at"])
    op.create_table(
        "tags",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        _stamp("created_at"),
        _fk("tags", "workspace_id", "workspaces"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("workspace_id", "type", "name", name=op.f("uq_tags_workspace_id_type_name")),
    )
    op.create_index(op.f("ix_tags_workspace_id"), "tags", ["workspace_id"])
    op.create_table(
        "tag_bindings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tag_id", sa.String(length=36), nullable=False),
        sa.Column("target_id", sa.String(length=36), nullable=False),
        _stamp("created_at"),
        _fk("tag_bindings", "tag_id", "tags"),
        sa.ForeignKeyConstraint(["target_id"], ["datasets.id"], name=op.f("fk_tag_bindings_target_id_datasets"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_bindings")),
        sa.UniqueConstraint("tag_id", "target_id", name=op.f("uq_tag_bindings_tag_id_target_id")),
    )
    op.create_index(op.f("ix_tag_bindings_target_id"), "tag_bindings", ["target_id"])
    op.create_table(
        "dataset_metadata_fields",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("dataset_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        _stamp("created_at"),
        _fk("dataset_metadata_fields", "dataset_id", "datasets"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_metadata_fields")),
        sa.UniqueConstraint("dataset_id", "name", name=op.f("uq_dataset_metadata_fields_dataset_id_name")),
    )
    op.create_table(
        "document_metadata_values",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("field_id", sa.String(length=36), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        _fk("document_metadata_values", "document_id", "documents"),
        sa.ForeignKeyConstraint(["field_id"], ["dataset_metadata_fields.id"],
                                name=op.f("fk_document_metadata_values_field_id_dataset_metadata_fields"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_metadata_values")),
        sa.UniqueConstraint("document_id", "field_id", name=op.f("uq_document_metadata_values_document_id_field_id")),
    )
    op.create_index(op.f("ix_document_metadata_values_field_id"), "document_metadata_values", ["field_id"])
    op.create_table(
        "dataset_metadata_settings",
        sa.Column("dataset_id", sa.String(length=36), nullable=False),
        sa.Column("built_in_field_enabled", sa.Boolean(), nullable=False),
        _fk("dataset_metadata_settings", "dataset_id", "datasets"),
        sa.PrimaryKeyConstraint("dataset_id", name=op.f("pk_dataset_metadata_settings")),
    )


def downgrade() -> None:
    for table in ("dataset_metadata_settings", "document_metadata_values", "dataset_metadata_fields",
                  "tag_bindings", "tags", "message_feedbacks"):
        op.drop_table(table)
