"""Segments of a document: list, add, update, delete. Unlike documents these are indexed in the request (as
Dify does): a few segments embed in milliseconds, and the caller gets them back searchable."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.errors import InvalidParam, NotFound
from app.models import Dataset, Document, DocumentSegment
from app.models.base import new_id, utcnow
from app.providers.embeddings import Embeddings
from app.providers.vectors import VectorRecord, VectorStore
from app.rag import keywords as keyword_rules
from app.rag.splitting import count_tokens
from app.services import dataset_views
from app.services.dataset_scope import owned_dataset
from app.services.metering import UsageRecorder, embedding_hook


class Segments:
    def __init__(self, sessions: sessionmaker[Session], vectors: VectorStore, embeddings: Embeddings,
                 recorder: UsageRecorder | None = None) -> None:
        self._sessions = sessions
        self._vectors = vectors
        self._embeddings = embeddings
        self._recorder = recorder  # meters embedding requests to the dataset's workspace

    def _scope(self, session: Session, workspace_id: str, dataset_id: str,
               document_id: str) -> tuple[Dataset, Document]:
        dataset = owned_dataset(session, workspace_id, dataset_id)
        doc = session.get(Document, document_id)
        if doc is None or doc.dataset_id != dataset_id:
            raise NotFound("Document not found.")
        return dataset, doc

    def _index(self, dataset: Dataset, rows: list[DocumentSegment]) -> None:
        if dataset.indexing_technique == "economy" or not rows:
            return
        embedder = self._embeddings.for_model(dataset.embedding_model_provider, dataset.embedding_model,
                                              on_call=embedding_hook(self._recorder, workspace_id=dataset.workspace_id,
                                                                     provider=dataset.embedding_model_provider))
        matrix = embedder.embed([r.content for r in rows])
        self._vectors.upsert(dataset.id, [VectorRecord(r.id, r.document_id, r.generation, matrix[i])
                                          for i, r in enumerate(rows)])

    def list(self, workspace_id: str, dataset_id: str, document_id: str, page: int, limit: int,
             keyword: str | None, status: str | None) -> dict[str, Any]:
        with self._sessions() as session:
            _, doc = self._scope(session, workspace_id, dataset_id, document_id)
            query = select(DocumentSegment).where(DocumentSegment.document_id == document_id)
            if keyword:
                query = query.where(DocumentSegment.content.contains(keyword, autoescape=True))
            if status:
                query = query.where(DocumentSegment.status == status)
            total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
            rows = session.scalars(query.order_by(DocumentSegment.position).offset((page - 1) * limit)
                                   .limit(limit)).all()
            return {"data": [dataset_views.segment(r) for r in rows], "doc_form": doc.doc_form,
                    "has_more": page * limit < total, "limit": limit, "total": total, "page": page}

    def get(self, workspace_id: str, dataset_id: str, document_id: str, segment_id: str) -> dict[str, Any]:
        with self._sessions() as session:
            _, doc = self._scope(session, workspace_id, dataset_id, document_id)
            row = session.get(DocumentSegment, segment_id)
            if row is None or row.document_id != document_id:
                raise NotFound("Segment not found.")
            return {"data": dataset_views.segment(row), "doc_form": doc.doc_form}

    def add(self, workspace_id: str, dataset_id: str, document_id: str,
            items: list[dict[str, Any]]) -> dict[str, Any]:
        if not items or any(not str(i.get("content") or "").strip() for i in items):
            raise InvalidParam("segments[].content is required", params="segments")
        now = utcnow()
        with transaction(self._sessions) as session:
            dataset, doc = self._scope(session, workspace_id, dataset_id, document_id)
            position = session.scalar(select(func.max(DocumentSegment.position))
                                      .where(DocumentSegment.document_id == document_id)) or 0
            rows = []
            for offset, item in enumerate(items, start=1):
                content = str(item["content"])
                rows.append(DocumentSegment(
                    id=new_id(), workspace_id=workspace_id, dataset_id=dataset_id, document_id=document_id,
                    position=position + offset, content=content, answer=item.get("answer"),
                    word_count=len(content), tokens=count_tokens(content),
                    keywords=item.get("keywords") or keyword_rules.extract(content),
                    index_node_hash=hashlib.sha256(content.encode()).hexdigest(), generation=doc.epoch,
                    indexing_at=now, completed_at=now))
            # Vectors first: if embedding fails the segments are not written either.
            self._index(dataset, rows)
            session.add_all(rows)
            doc.word_count += sum(r.word_count for r in rows)
            doc.tokens += sum(r.tokens for r in rows)
            session.flush()
            return {"data": [dataset_views.segment(r) for r in rows], "doc_form": doc.doc_form}

    def update(self, workspace_id: str, dataset_id: str, document_id: str, segment_id: str,
               changes: dict[str, Any]) -> dict[str, Any]:
        with transaction(self._sessions) as session:
            dataset, doc = self._scope(session, workspace_id, dataset_id, document_id)
            row = session.get(DocumentSegment, segment_id)
            if row is None or row.document_id != document_id:
                raise NotFound("Segment not found.")
            if changes.get("content") is not None and changes["content"] != row.content:
                row.content = str(changes["content"])
                row.word_count, row.tokens = len(row.content), count_tokens(row.content)
                row.index_node_hash = hashlib.sha256(row.content.encode()).hexdigest()
                row.keywords = changes.get("keywords") or keyword_rules.extract(row.content)
                self._index(dataset, [row])
            elif changes.get("keywords") is not None:
                row.keywords = list(changes["keywords"])
            if changes.get("answer") is not None:
                row.answer = changes["answer"]
            if changes.get("enabled") is not None:
                row.enabled = bool(changes["enabled"])
                row.disabled_at = None if row.enabled else utcnow()
            session.flush()
            return {"data": dataset_views.segment(row), "doc_form": doc.doc_form}

    def delete(self, workspace_id: str, dataset_id: str, document_id: str, segment_id: str) -> None:
        with transaction(self._sessions) as session:
            self._scope(session, workspace_id, dataset_id, document_id)
            row = session.get(DocumentSegment, segment_id)
            if row is None or row.document_id != document_id:
                raise NotFound("Segment not found.")
            session.delete(row)
        self._vectors.delete_ids(dataset_id, [segment_id])
