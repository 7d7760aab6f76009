"""Knowledge bases: datasets, their documents (with the indexing lease), segments and uploaded files.

Dataset API keys are rows of `api_keys` with kind="dataset" and no app. Full-text indexes over
`document_segments.content` are created by migration 0002 (FTS5 on SQLite, a GIN tsvector index on Postgres).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, id_column, utcnow


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    provider: Mapped[str] = mapped_column(String(32), default="vendor")
    permission: Mapped[str] = mapped_column(String(32), default="only_me")
    indexing_technique: Mapped[str | None] = mapped_column(String(32), default=None)  # high_quality | economy
    embedding_model: Mapped[str | None] = mapped_column(String(255), default=None)
    embedding_model_provider: Mapped[str | None] = mapped_column(String(255), default=None)
    retrieval_model: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class UploadFile(Base):
    """A file in the object store (`key`), uploaded through /v1/files/upload or create-by-file."""

    __tablename__ = "upload_files"

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    extension: Mapped[str] = mapped_column(String(32))
    mime_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    key: Mapped[str] = mapped_column(String(512))
    hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Document(Base):
    """A document and its indexing state. Indexing holds a lease (owner, expiry, fencing `epoch`) like runs:
    the epoch is also the `generation` of the segments and vectors an attempt writes."""

    __tablename__ = "documents"
    __table_args__ = (
        Index("ix_documents_dataset_position", "dataset_id", "position"),
        Index("ix_documents_status_lease", "indexing_status", "lease_expires_at"),
        Index("ix_documents_batch", "batch"),
    )

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(255))
    data_source_type: Mapped[str] = mapped_column(String(32), default="upload_file")
    upload_file_id: Mapped[str | None] = mapped_column(ForeignKey("upload_files.id", ondelete="SET NULL"))
    batch: Mapped[str] = mapped_column(String(64))
    created_from: Mapped[str] = mapped_column(String(32), default="api")
    process_rule: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    doc_form: Mapped[str] = mapped_column(String(32), default="text_model")
    doc_language: Mapped[str] = mapped_column(String(32), default="English")
    indexing_status: Mapped[str] = mapped_column(String(32), default="waiting")
    error: Mapped[str | None] = mapped_column(Text, default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    word_count: Mapped[int] = mapped_column(Integer, default=0)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    processing_started_at: Mapped[datetime | None] = mapped_column(default=None)
    parsing_completed_at: Mapped[datetime | None] = mapped_column(default=None)
    cleaning_completed_at: Mapped[datetime | None] = mapped_column(default=None)
    splitting_completed_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    archived_at: Mapped[datetime | None] = mapped_column(default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(128), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    enqueued_at: Mapped[datetime | None] = mapped_column(default=None)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class DocumentSegment(Base):
    """One chunk. `generation` is the document epoch that wrote it; a re-index swaps generations in one
    transaction. The segment id is also its vector id (`index_node_id`)."""

    __tablename__ = "document_segments"
    __table_args__ = (
        Index("ix_document_segments_document_position", "document_id", "position"),
        Index("ix_document_segments_dataset", "dataset_id"),
    )

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text, default=None)
    word_count: Mapped[int] = mapped_column(Integer, default=0)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    keywords: Mapped[list[str] | None] = mapped_column(JSONType, default=None)
    index_node_hash: Mapped[str] = mapped_column(String(64), default="")
    hit_count: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(32), default="completed")
    generation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    indexing_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
