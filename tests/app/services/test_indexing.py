"""Indexing in the worker: states, idempotency, a worker killed mid-document, the reaper, atomic re-indexing.
A "killed" worker is a vector store that dies (SystemExit) after its first write: the process edge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.models import Document, DocumentSegment
from app.models.base import utcnow
from app.rag.splitting import ProcessRule, Rules, Segmentation
from app.services.indexing import Indexer
from app.services.knowledge import RetrievalModel

SMALL = ProcessRule(mode="custom", rules=Rules(segmentation=Segmentation(separator="\n", max_tokens=50,
                                                                         chunk_overlap=0)))
LONG = "\n".join(f"Line {i}: shipping delays are refunded after five business days, clause {i}." for i in range(40))


def indexed_dataset(container, documents: dict[str, str], technique: str = "high_quality",
                    rule: ProcessRule | None = None) -> tuple[str, str, dict[str, str]]:
    """Create a dataset and index `documents` through the real queue (Huey immediate mode runs the task)."""
    kb = container.knowledge
    workspace_id = container.accounts.default_workspace_id()
    dataset_id = kb.datasets.create(workspace_id, {"name": f"kb-{technique}", "indexing_technique": technique})["id"]
    names = {}
    for name, text in documents.items():
        stored = kb.documents.store_text(workspace_id, name, text)
        created = kb.documents.create(workspace_id, dataset_id, name, stored, rule or ProcessRule(), {})
        names[created["document"]["id"]] = name
    return workspace_id, dataset_id, names


class DyingStore:
    """Delegates to the real store, then kills the 'process' after the first upsert."""

    def __init__(self, inner):
        self.inner = inner

    def upsert(self, namespace, records):
        self.inner.upsert(namespace, records)
        raise SystemExit("worker killed")

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _segments(container, document_id):
    with container.sessions() as session:
        return session.scalars(select(DocumentSegment).where(DocumentSegment.document_id == document_id)
                               .order_by(DocumentSegment.position)).all()


def _vector_generations(container, dataset_id, document_id):
    conn = container.knowledge.vectors._conn
    rows = conn.execute("SELECT generation, count(*) FROM vectors WHERE namespace = ? AND document_id = ? "
                        "GROUP BY generation", (dataset_id, document_id)).fetchall()
    return dict(rows)


def _expire(container, document_id):
    with container.sessions.begin() as session:
        session.execute(update(Document).where(Document.id == document_id)
                        .values(lease_expires_at=utcnow() - timedelta(seconds=1)))


def test_indexing_completes_through_the_queue_with_dify_states(container):
    _, dataset_id, names = indexed_dataset(container, {"policy": LONG}, rule=SMALL)
    document_id = next(iter(names))
    with container.sessions() as session:
        doc = session.get(Document, document_id)
        assert doc.indexing_status == "completed" and doc.error is None
        assert doc.processing_started_at <= doc.parsing_completed_at <= doc.splitting_completed_at <= doc.completed_at
        assert doc.lease_owner is None and doc.attempts == 1
    segments = _segments(container, document_id)
    assert len(segments) > 5 and [s.position for s in segments] == list(range(1, len(segments) + 1))
    assert _vector_generations(container, dataset_id, document_id) == {doc.epoch: len(segments)}
    # A duplicate message finds the document done and changes nothing.
    assert container.knowledge.indexer.index(document_id, "another-worker") is None
    assert len(_segments(container, document_id)) == len(segments)


def test_killed_worker_leaves_no_duplicates_and_the_reaper_finishes_it(container):
    kb = container.knowledge
    workspace_id, dataset_id, names = indexed_dataset(container, {"policy": "first version"}, rule=SMALL)
    document_id = next(iter(names))
    dying = Indexer(container.sessions, kb.objects, DyingStore(kb.vectors), kb.embeddings, lease_seconds=30)
    # Ask for a re-index, and kill the worker after it wrote its first vectors.
    with container.sessions.begin() as session:
        session.execute(update(Document).where(Document.id == document_id).values(indexing_status="waiting"))
    with pytest.raises(SystemExit):
        dying.index(document_id, "doomed-worker")
    with container.sessions() as session:
        assert session.get(Document, document_id).indexing_status == "indexing"
    # Still leased: neither another worker nor the reaper may take it.
    assert kb.indexer.index(document_id, "w2") is None
    assert kb.indexer.reap(max_attempts=3, requeue_after=60) == []
    _expire(container, document_id)
    assert kb.indexer.reap(max_attempts=3, requeue_after=60) == [document_id]
    assert kb.indexer.index(document_id, "w2") == "completed"
    segments = _segments(container, document_id)
    assert [s.content for s in segments] == ["first version"]
    generations = _vector_generations(container, dataset_id, document_id)
    assert list(generations.values()) == [1] and set(generations) == {segments[0].generation}


def test_reindex_replaces_segments_atomically(container):
    kb = container.knowledge
    workspace_id, dataset_id, names = indexed_dataset(container, {"policy": "Old rule: refunds take ten days."})
    document_id = next(iter(names))
    old = [s.id for s in _segments(container, document_id)]
    kb.indexer = Indexer(container.sessions, kb.objects, DyingStore(kb.vectors), kb.embeddings, 30)
    with pytest.raises(SystemExit):  # the update enqueues; the (immediate) worker dies mid-way
        kb.documents.update(workspace_id, dataset_id, document_id, None,
                            kb.documents.store_text(workspace_id, "policy", "New rule: refunds take two days."),
                            None)
    # While the new version is half-done the old segments are still served.
    hits = kb.knowledge.search(workspace_id, [dataset_id], "refunds days", RetrievalModel(
        search_method="full_text_search", top_k=3))
    assert [h[0].id for h in hits] == old
    _expire(container, document_id)
    kb.indexer = Indexer(container.sessions, kb.objects, kb.vectors, kb.embeddings, 30)
    for document in kb.indexer.reap(3, 60):
        kb.indexer.index(document, "w3")
    segments = _segments(container, document_id)
    assert [s.content for s in segments] == ["New rule: refunds take two days."]
    assert set(_vector_generations(container, dataset_id, document_id)) == {segments[0].generation}
    semantic = kb.knowledge.search(workspace_id, [dataset_id], "refunds", RetrievalModel(top_k=5))
    assert [h[0].content for h in semantic] == ["New rule: refunds take two days."]


def test_parse_failure_is_stored_on_the_document(container):
    kb = container.knowledge
    workspace_id = container.accounts.default_workspace_id()
    dataset_id = kb.datasets.create(workspace_id, {"name": "broken"})["id"]
    stored = kb.files.upload(workspace_id, "broken.pdf", b"%PDF-1.4 not really", "application/pdf", None, True)
    created = kb.documents.create(workspace_id, dataset_id, "broken.pdf", stored, ProcessRule(), {})
    detail = kb.documents.get(workspace_id, dataset_id, created["document"]["id"])
    assert detail["indexing_status"] == "error" and "pdf" in detail["error"].lower()
    with container.sessions() as session:
        assert session.scalar(select(func.count(DocumentSegment.id))) == 0


def test_reaper_gives_up_after_max_attempts(container):
    kb = container.knowledge
    _, _, names = indexed_dataset(container, {"policy": "text"})
    document_id = next(iter(names))
    with container.sessions.begin() as session:
        session.execute(update(Document).where(Document.id == document_id).values(
            indexing_status="indexing", attempts=3, lease_expires_at=utcnow() - timedelta(seconds=1)))
    assert kb.indexer.reap(max_attempts=3, requeue_after=60) == []
    with container.sessions() as session:
        doc = session.get(Document, document_id)
        assert doc.indexing_status == "error" and "3 attempts" in doc.error
