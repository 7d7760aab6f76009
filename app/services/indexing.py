"""Indexing one document in a worker: claim -> parse -> clean -> split -> embed in batches -> write vectors ->
swap segments, moving through Dify's states (waiting, parsing, cleaning, splitting, indexing, completed | error).

Idempotent and resumable. A claim is a compare-and-set UPDATE that bumps `epoch` and sets a lease; every later
write is fenced by that epoch, and the lease is renewed between stages and embedding batches. Segments are
written only in the final transaction, which also deletes every segment of older generations, so a worker killed
midway leaves no segment behind and a re-index replaces the old segments atomically. Vectors are keyed by segment
id and tagged with the generation; after the swap every other generation of the document's vectors is deleted,
including those of an interrupted attempt. `reap` sends documents whose lease expired back to `waiting`.

Each attempt's end is counted in `trellis_documents_indexed_total{status}` (completed, error, lease_lost;
abandoned by the reaper) with its duration, and the segments it wrote in `trellis_segments_indexed_total`.
Embedding requests are metered to the dataset's workspace when a usage recorder is given.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.errors import TrellisError
from app.metrics import metrics, timed
from app.models import Dataset, Document, DocumentSegment, UploadFile
from app.models.base import utcnow
from app.providers.embeddings import Embeddings
from app.providers.objects import ObjectStore
from app.providers.vectors import VectorRecord, VectorStore
from app.rag.parsing import parse
from app.rag.splitting import Chunk, ProcessRule, chunk_text
from app.services.metering import UsageRecorder, embedding_hook

log = logging.getLogger(__name__)

IN_PROGRESS = ("parsing", "cleaning", "splitting", "indexing")
EMBED_SLICE = 256
SEGMENT_NAMESPACE = uuid.UUID("6f1d6a52-3f0e-4a55-9a8e-1f7a4f5c2b10")


class LeaseLost(Exception):
    """Another attempt owns the document now; this one must stop writing."""


@dataclass(frozen=True)
class Claim:
    document_id: str
    owner: str
    epoch: int


def segment_id(document_id: str, generation: int, position: int) -> str:
    """Deterministic per attempt, so a retried upsert of the same attempt overwrites instead of adding."""
    return str(uuid.uuid5(SEGMENT_NAMESPACE, f"{document_id}:{generation}:{position}"))


class Indexer:
    def __init__(self, sessions: sessionmaker[Session], objects: ObjectStore, vectors: VectorStore,
                 embeddings: Embeddings, lease_seconds: float, recorder: UsageRecorder | None = None) -> None:
        self._sessions = sessions
        self._objects = objects
        self._vectors = vectors
        self._embeddings = embeddings
        self._ttl = timedelta(seconds=lease_seconds)
        self._recorder = recorder

    def claim(self, document_id: str, owner: str) -> Claim | None:
        """Take the document if it waits or its lease expired; None if another worker holds it or it is done."""
        now = utcnow()
        claimable = or_(Document.indexing_status == "waiting",
                        and_(Document.indexing_status.in_(IN_PROGRESS), Document.lease_expires_at < now))
        with transaction(self._sessions) as session:
            row = session.execute(
                update(Document).where(Document.id == document_id, claimable)
                .values(indexing_status="parsing", lease_owner=owner, lease_expires_at=now + self._ttl,
                        processing_started_at=now, error=None, epoch=Document.epoch + 1,
                        attempts=Document.attempts + 1)
                .returning(Document.epoch)).first()
        return Claim(document_id, owner, row.epoch) if row else None

    def _fenced(self, claim: Claim, **values: Any) -> None:
        with transaction(self._sessions) as session:
            result = session.execute(update(Document).where(Document.id == claim.document_id,
                                                            Document.epoch == claim.epoch)
                                     .values(**{"lease_expires_at": utcnow() + self._ttl, **values}))
            if result.rowcount == 0:
                raise LeaseLost(claim.document_id)

    def index(self, document_id: str, owner: str) -> str | None:
        """Claim and index the document. Returns the final status, or None if it was not claimable or the
        lease was lost midway. Failures are stored on the document (`error`), not raised."""
        claim = self.claim(document_id, owner)
        if claim is None:
            return None
        elapsed = timed()
        status = self._attempt(claim)
        m = metrics()
        m.documents_indexed.labels(status).inc()
        m.indexing_latency.labels(status).observe(elapsed())
        return None if status == "lease_lost" else status

    def _attempt(self, claim: Claim) -> str:
        document_id = claim.document_id
        try:
            segments = self._run(claim)
            metrics().segments_indexed.inc(segments)
            return "completed"
        except LeaseLost:
            log.warning("indexing lease lost", extra={"document_id": document_id, "epoch": claim.epoch})
            return "lease_lost"
        except Exception as exc:  # the task edge: every failure ends on the document, with the id logged
            log.exception("indexing failed", extra={"document_id": document_id})
            message = exc.message if isinstance(exc, TrellisError) else f"{type(exc).__name__}: {exc}"
            try:
                self._fenced(claim, indexing_status="error", error=message[:2000], lease_owner=None,
                             lease_expires_at=None)
            except LeaseLost:
                return "lease_lost"
            return "error"

    def _load(self, claim: Claim) -> tuple[Document, Dataset, UploadFile | None]:
        with self._sessions() as session:
            doc = session.get(Document, claim.document_id)
            assert doc is not None
            dataset = session.get(Dataset, doc.dataset_id)
            assert dataset is not None
            upload = session.get(UploadFile, doc.upload_file_id) if doc.upload_file_id else None
            return doc, dataset, upload

    def _run(self, claim: Claim) -> int:
        """Index the claimed document; returns the number of segments written."""
        doc, dataset, upload = self._load(claim)
        if upload is None:
            raise TrellisError("The document's file is missing.")
        text = parse(self._objects.get(upload.key), upload.extension)
        self._fenced(claim, parsing_completed_at=utcnow(), indexing_status="cleaning")
        rule = ProcessRule.model_validate(doc.process_rule or {"mode": "automatic"})
        chunks = chunk_text(text, rule)
        now = utcnow()
        self._fenced(claim, cleaning_completed_at=now, splitting_completed_at=now, indexing_status="indexing")
        if dataset.indexing_technique != "economy" and chunks:
            self._embed(claim, dataset, chunks)
        self._swap(claim, doc, chunks)
        self._vectors.delete_document(dataset.id, doc.id, keep_generation=claim.epoch)
        return len(chunks)

    def _embed(self, claim: Claim, dataset: Dataset, chunks: list[Chunk]) -> None:
        embedder = self._embeddings.for_model(dataset.embedding_model_provider, dataset.embedding_model,
                                              on_call=embedding_hook(self._recorder, workspace_id=dataset.workspace_id,
                                                                     provider=dataset.embedding_model_provider))
        for start in range(0, len(chunks), EMBED_SLICE):
            part = chunks[start:start + EMBED_SLICE]
            matrix = embedder.embed([c.content for c in part])
            self._vectors.upsert(dataset.id, [
                VectorRecord(segment_id(claim.document_id, claim.epoch, c.position), claim.document_id, claim.epoch,
                             matrix[i]) for i, c in enumerate(part)])
            self._fenced(claim)  # heartbeat, and proof that we still own the document

    def _swap(self, claim: Claim, doc: Document, chunks: list[Chunk]) -> None:
        now = utcnow()
        with transaction(self._sessions) as session:
            result = session.execute(update(Document).where(Document.id == claim.document_id,
                                                            Document.epoch == claim.epoch).values(
                indexing_status="completed", completed_at=now, lease_owner=None, lease_expires_at=None,
                word_count=sum(len(c.content) for c in chunks), tokens=sum(c.tokens for c in chunks)))
            if result.rowcount == 0:
                raise LeaseLost(claim.document_id)
            session.execute(DocumentSegment.__table__.delete().where(
                DocumentSegment.document_id == claim.document_id, DocumentSegment.generation != claim.epoch))
            session.add_all(DocumentSegment(
                id=segment_id(claim.document_id, claim.epoch, c.position), workspace_id=doc.workspace_id,
                dataset_id=doc.dataset_id, document_id=doc.id, position=c.position, content=c.content,
                word_count=len(c.content), tokens=c.tokens, keywords=c.keywords,
                index_node_hash=hashlib.sha256(c.content.encode()).hexdigest(), generation=claim.epoch,
                indexing_at=now, completed_at=now) for c in chunks)

    def reap(self, max_attempts: int, requeue_after: float) -> list[str]:
        """Documents whose lease expired, or whose queue message was lost, go back to `waiting` (the caller
        re-enqueues the returned ids); past `max_attempts` they end in `error`."""
        now = utcnow()
        expired = and_(Document.indexing_status.in_(IN_PROGRESS), Document.lease_expires_at < now)
        lost = and_(Document.indexing_status == "waiting",
                    Document.enqueued_at < now - timedelta(seconds=requeue_after))
        requeued: list[str] = []
        abandoned = 0
        with transaction(self._sessions) as session:
            rows = session.scalars(select(Document).where(or_(expired, lost)).limit(200)
                                   .with_for_update(skip_locked=True)).all()
            for doc in rows:
                if doc.attempts >= max_attempts:
                    doc.indexing_status, doc.lease_owner = "error", None
                    doc.error = f"Indexing abandoned after {doc.attempts} attempts (worker lost each time)."
                    abandoned += 1
                else:
                    doc.indexing_status, doc.lease_owner, doc.lease_expires_at = "waiting", None, None
                    doc.enqueued_at = now
                    requeued.append(doc.id)
        metrics().documents_indexed.labels("abandoned").inc(abandoned)
        return requeued
