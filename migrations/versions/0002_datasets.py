"""knowledge bases: datasets, upload files, documents, segments and their full-text indexes

Revision ID: 0002
Revises: 0001

SQLite gets an external-content FTS5 table over document_segments (porter stemming) kept in step by triggers;
Postgres gets a GIN index over to_tsvector('english', content).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _ws_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], name=f"fk_{table}_workspace_id_workspaces",
                                   ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("workspace_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("permission", sa.String(32), nullable=False),
        sa.Column("indexing_technique", sa.String(32), nullable=True),
        sa.Column("embedding_model", sa.String(255), nullable=True),
        sa.Column("embedding_model_provider", sa.String(255), nullable=True),
        sa.Column("retrieval_model", JSON, nullable=True),
        _ts("created_at", False), _ts("updated_at", False),
        sa.PrimaryKeyConstraint("id", name="pk_datasets"),
        sa.UniqueConstraint("workspace_id", "name", name="uq_datasets_workspace_id_name"),
        _ws_fk("datasets"),
    )
    op.create_index("ix_datasets_workspace_id", "datasets", ["workspace_id"])

    op.create_table(
        "upload_files",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("workspace_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("extension", sa.String(32), nullable=False),
        sa.Column("mime_type", sa.String(255), nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=True),
        _ts("created_at", False),
        sa.PrimaryKeyConstraint("id", name="pk_upload_files"),
        _ws_fk("upload_files"),
    )
    op.create_index("ix_upload_files_workspace_id", "upload_files", ["workspace_id"])

    op.create_table(
        "documents",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("workspace_id", sa.String(36), nullable=False),
        sa.Column("dataset_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("data_source_type", sa.String(32), nullable=False),
        sa.Column("upload_file_id", sa.String(36), nullable=True),
        sa.Column("batch", sa.String(64), nullable=False),
        sa.Column("created_from", sa.String(32), nullable=False),
        sa.Column("process_rule", JSON, nullable=True),
        sa.Column("doc_form", sa.String(32), nullable=False),
        sa.Column("doc_language", sa.String(32), nullable=False),
        sa.Column("indexing_status", sa.String(32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("word_count", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        _ts("created_at", False), _ts("updated_at", False), _ts("processing_started_at"),
        _ts("parsing_completed_at"), _ts("cleaning_completed_at"), _ts("splitting_completed_at"),
        _ts("completed_at"), _ts("disabled_at"), _ts("archived_at"),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        _ts("lease_expires_at"), _ts("enqueued_at"),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_documents"),
        _ws_fk("documents"),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], name="fk_documents_dataset_id_datasets",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["upload_file_id"], ["upload_files.id"],
                                name="fk_documents_upload_file_id_upload_files", ondelete="SET NULL"),
    )
    op.create_index("ix_documents_workspace_id", "documents", ["workspace_id"])
    op.create_index("ix_documents_dataset_position", "documents", ["dataset_id", "position"])
    op.create_index("ix_documents_status_lease", "documents", ["indexing_status", "lease_expires_at"])
    op.create_index("ix_documents_batch", "documents", ["batch"])

    op.create_table(
        "document_segments",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("workspace_id", sa.String(36), nullable=False),
        sa.Column("dataset_id", sa.String(36), nullable=False),
        sa.Column("document_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("word_count", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("keywords", JSON, nullable=True),
        sa.Column("index_node_hash", sa.String(64), nullable=False),
        sa.Column("hit_count", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        _ts("created_at", False), _ts("updated_at", False), _ts("indexing_at"), _ts("completed_at"),
        _ts("disabled_at"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_document_segments"),
        _ws_fk("document_segments"),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], name="fk_document_segments_dataset_id_datasets",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"],
                                name="fk_document_segments_document_id_documents", ondelete="CASCADE"),
    )
    op.create_index("ix_document_segments_workspace_id", "document_segments", ["workspace_id"])
    op.create_index("ix_document_segments_document_position", "document_segments", ["document_id", "position"])
    op.create_index("ix_document_segments_dataset", "document_segments", ["dataset_id"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_document_segments_fts ON document_segments "
                   "USING gin (to_tsvector('english', content))")
    else:
        # External content keyed by the segments' rowid; a table rebuild must be followed by
        # INSERT INTO document_segments_fts(document_segments_fts) VALUES ('rebuild').
        op.execute("CREATE VIRTUAL TABLE document_segments_fts USING fts5(content, content='document_segments', "
                   "content_rowid='rowid', tokenize='porter unicode61')")
        op.execute("CREATE TRIGGER document_segments_fts_ai AFTER INSERT ON document_segments BEGIN "
                   "INSERT INTO document_segments_fts(rowid, content) VALUES (new.rowid, new.content); END")
        op.execute("CREATE TRIGGER document_segments_fts_ad AFTER DELETE ON document_segments BEGIN "
                   "INSERT INTO document_segments_fts(document_segments_fts, rowid, content) "
                   "VALUES ('delete', old.rowid, old.content); END")
        op.execute("CREATE TRIGGER document_segments_fts_au AFTER UPDATE OF content ON document_segments BEGIN "
                   "INSERT INTO document_segments_fts(document_segments_fts, rowid, content) "
                   "VALUES ('delete', old.rowid, old.content); "
                   "INSERT INTO document_segments_fts(rowid, content) VALUES (new.rowid, new.content); END")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for trigger in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS document_segments_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS document_segments_fts")
    op.drop_table("document_segments")
    op.drop_table("documents")
    op.drop_table("upload_files")
    op.drop_table("datasets")
