"""What callers attach to other rows without changing them: message feedback (like / dislike), knowledge tags
and their bindings to datasets, and document metadata (fields per dataset, values per document)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, id_column, utcnow


class MessageFeedback(Base):
    """An end user's rating of one chat message; one row per message and user (a new rating replaces it)."""

    __tablename__ = "message_feedbacks"
    __table_args__ = (UniqueConstraint("message_id", "end_user_id"),
                      Index("ix_message_feedbacks_app_created", "app_id", "created_at"))

    id: Mapped[str] = id_column()
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    end_user_id: Mapped[str] = mapped_column(ForeignKey("end_users.id", ondelete="CASCADE"))
    rating: Mapped[str] = mapped_column(String(16))  # like | dislike
    content: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Tag(Base):
    """A workspace's knowledge tag (Dify's tag of type `knowledge`)."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("workspace_id", "type", "name"),)

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(16), default="knowledge")
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TagBinding(Base):
    __tablename__ = "tag_bindings"
    __table_args__ = (UniqueConstraint("tag_id", "target_id"),)

    id: Mapped[str] = id_column()
    tag_id: Mapped[str] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"))
    target_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetMetadataField(Base):
    """A custom metadata field of a dataset: a name and a type (string, number or time)."""

    __tablename__ = "dataset_metadata_fields"
    __table_args__ = (UniqueConstraint("dataset_id", "name"),)

    id: Mapped[str] = id_column()
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DocumentMetadataValue(Base):
    """One document's value for one metadata field, stored as text like Dify's `doc_metadata` values."""

    __tablename__ = "document_metadata_values"
    __table_args__ = (UniqueConstraint("document_id", "field_id"),)

    id: Mapped[str] = id_column()
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    field_id: Mapped[str] = mapped_column(ForeignKey("dataset_metadata_fields.id", ondelete="CASCADE"), index=True)
    value: Mapped[str | None] = mapped_column(Text, default=None)


class DatasetMetadataSettings(Base):
    """Per-dataset metadata switches; a dataset without a row has the built-in fields off."""

    __tablename__ = "dataset_metadata_settings"

    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    built_in_field_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
