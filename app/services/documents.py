"""Documents of a dataset: create and update (by text or by file), list, get, delete, enable/disable/archive,
and the indexing status of a batch.

Creating or updating only writes the row (`waiting`, a new batch) and enqueues `index_document`; the worker
does the rest. An update keeps the old segments searchable until the new ones replace them in one
transaction. Text documents are stored as a `.txt` upload so the worker reads every document the same way."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.errors import DocumentIndexing, InvalidParam, NotFound
from app.models import Dataset, Document, DocumentSegment
from app.models.base import as_utc, utcnow
from app.providers.vectors import VectorStore
from app.rag.splitting import ProcessRule
from app.services import dataset_views
from app.services.dataset_metadata import values_of
from app.services.dataset_scope import owned_dataset
from app.services.files import Files, StoredFile

IN_PROGRESS = ("parsing", "cleaning", "splitting", "indexing")
STATUS_ACTIONS = ("enable", "disable", "archive", "un_archive")


def new_batch() -> str:
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S") + f"{uuid.uuid4().int % 1_000_000:06d}"


class Documents:
    def __init__(self, sessions: sessionmaker[Session], files: Files, vectors: VectorStore,
                 enqueue: Callable[[str], None]) -> None:
        self._sessions = sessions
        self._files = files
        self._vectors = vectors
        self._enqueue = enqueue

    def _dataset(self, session: Session, workspace_id: str, dataset_id: str) -> Dataset:
        return owned_dataset(session, workspace_id, dataset_id)

    def _document(self, session: Session, workspace_id: str, dataset_id: str, document_id: str) -> Document:
        self._dataset(session, workspace_id, dataset_id)
        row = session.get(Document, document_id)
        if row is None or row.dataset_id != dataset_id:
            raise NotFound("Document not found.")
        return row

    def store_text(self, workspace_id: str, name: str, text: str) -> StoredFile:
        filename = name if name.lower().endswith((".txt", ".md")) else f"{name}.txt"
        return self._files.upload(workspace_id, filename, text.encode("utf-8"), "text/plain", None, True)

    def create(self, workspace_id: str, dataset_id: str, name: str, stored: StoredFile,
               process_rule: ProcessRule, body: dict[str, Any]) -> dict[str, Any]:
        """A waiting document for an uploaded file, queued for indexing; returns {document, batch}."""
        with transaction(self._sessions) as session:
            dataset = self._dataset(session, workspace_id, dataset_id)
            if dataset.indexing_technique is None and body.get("indexing_technique"):
                dataset.indexing_technique = body["indexing_technique"]
            position = (session.scalar(select(func.max(Document.position))
                                       .where(Document.dataset_id == dataset_id)) or 0) + 1
            row = Document(workspace_id=workspace_id, dataset_id=dataset_id, position=position, name=name[:255],
                           data_source_type="upload_file", upload_file_id=stored.id, batch=new_batch(),
                           process_rule=process_rule.to_dict(), doc_form=body.get("doc_form") or "text_model",
                           doc_language=body.get("doc_language") or "English", enqueued_at=utcnow())
            session.add(row)
        self._enqueue(row.id)
        return {"document": dataset_views.document(row), "batch": row.batch}

    def update(self, workspace_id: str, dataset_id: str, document_id: str, name: str | None,
               stored: StoredFile | None, process_rule: ProcessRule | None) -> dict[str, Any]:
        """Re-index with new content and/or rules. Raises DocumentIndexing while an attempt holds the lease."""
        now = utcnow()
        with transaction(self._sessions) as session:
            row = self._document(session, workspace_id, dataset_id, document_id)
            expires = as_utc(row.lease_expires_at)
            if row.indexing_status in IN_PROGRESS and expires is not None and expires > now:
                raise DocumentIndexing()
            if name:
                row.name = name[:255]
            if stored is not None:
                row.upload_file_id = stored.id
            if process_rule is not None:
                row.process_rule = process_rule.to_dict()
            row.indexing_status, row.error, row.batch, row.enqueued_at = "waiting", None, new_batch(), now
            row.processing_started_at = row.parsing_completed_at = row.cleaning_completed_at = None
            row.splitting_completed_at = row.completed_at = None
            row.attempts = 0
        self._enqueue(row.id)
        return {"document": dataset_views.document(row), "batch": row.batch}

    def list(self, workspace_id: str, dataset_id: str, page: int, limit: int,
             keyword: str | None) -> tuple[list[dict[str, Any]], int]:
        with self._sessions() as session:
            self._dataset(session, workspace_id, dataset_id)
            query = select(Document).where(Document.dataset_id == dataset_id)
            if keyword:
                query = query.where(Document.name.contains(keyword, autoescape=True))
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(query.order_by(Document.position.desc()).offset((page - 1) * limit)
                                   .limit(limit)).all()
            hits = dict(session.execute(select(DocumentSegment.document_id, func.sum(DocumentSegment.hit_count))
                                        .where(DocumentSegment.document_id.in_([r.id for r in rows]))
                                        .group_by(DocumentSegment.document_id)).all())
            metadata = values_of(session, list(rows))
            return [dataset_views.document(r, int(hits.get(r.id) or 0), metadata[r.id]) for r in rows], int(total)

    def get(self, workspace_id: str, dataset_id: str, document_id: str) -> dict[str, Any]:
        with self._sessions() as session:
            row = self._document(session, workspace_id, dataset_id, document_id)
            count, hits = session.execute(select(func.count(DocumentSegment.id),
                                                 func.coalesce(func.sum(DocumentSegment.hit_count), 0))
                                          .where(DocumentSegment.document_id == row.id)).one()
            return dataset_views.document_detail(row, int(count), int(hits), values_of(session, [row])[row.id])

    def upload_file(self, workspace_id: str, dataset_id: str, document_id: str) -> dict[str, Any]:
        """The uploaded file behind a document (Dify's `upload-file`). Trellis serves no file URLs, so `url` and
        `download_url` are null. NotFound when the document has no file."""
        with self._sessions() as session:
            row = self._document(session, workspace_id, dataset_id, document_id)
            file_id = row.upload_file_id
        if file_id is None:
            raise NotFound("File not found.")
        stored = self._files.get(workspace_id, file_id)
        return {**stored.to_dict(), "url": None, "download_url": None, "created_by": stored.created_by or workspace_id}

    def delete(self, workspace_id: str, dataset_id: str, document_id: str) -> None:
        with transaction(self._sessions) as session:
            row = self._document(session, workspace_id, dataset_id, document_id)
            session.execute(DocumentSegment.__table__.delete().where(DocumentSegment.document_id == row.id))
            session.delete(row)
        self._vectors.delete_document(dataset_id, document_id)

    def set_status(self, workspace_id: str, dataset_id: str, action: str, document_ids: list[str]) -> None:
        if action not in STATUS_ACTIONS:
            raise InvalidParam(f"action must be one of {', '.join(STATUS_ACTIONS)}", params="action")
        now = utcnow()
        values: dict[str, Any] = {
            "enable": {"enabled": True, "disabled_at": None}, "disable": {"enabled": False, "disabled_at": now},
            "archive": {"archived": True, "archived_at": now}, "un_archive": {"archived": False, "archived_at": None},
        }[action]
        with transaction(self._sessions) as session:
            self._dataset(session, workspace_id, dataset_id)
            result = session.execute(update(Document).where(Document.dataset_id == dataset_id,
                                                            Document.id.in_(document_ids)).values(**values))
            if document_ids and result.rowcount == 0:
                raise NotFound("Document not found.")

    def indexing_status(self, workspace_id: str, dataset_id: str, batch: str) -> list[dict[str, Any]]:
        with self._sessions() as session:
            self._dataset(session, workspace_id, dataset_id)
            rows = session.scalars(select(Document).where(Document.dataset_id == dataset_id,
                                                          Document.batch == batch)).all()
            if not rows:
                raise NotFound("Documents not found.")
            counts = dict(session.execute(select(DocumentSegment.document_id, func.count(DocumentSegment.id))
                                          .where(DocumentSegment.document_id.in_([r.id for r in rows]))
                                          .group_by(DocumentSegment.document_id)).all())
            return [dataset_views.indexing_status(r, int(counts.get(r.id, 0)), int(counts.get(r.id, 0)))
                    for r in rows]
