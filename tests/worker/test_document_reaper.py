"""The worker's reaper also re-queues documents whose indexing worker died, and they then finish."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from app.models import Document
from app.models.base import utcnow
from app.services.leases import Leases
from tests.app.services.test_indexing import indexed_dataset
from worker.leases import Reaper


def test_reaper_sweep_requeues_and_the_queue_reindexes(container):
    kb = container.knowledge
    workspace_id, dataset_id, names = indexed_dataset(container, {"policy": "Refunds after five days."})
    document_id = next(iter(names))
    with container.sessions.begin() as session:  # as a killed worker leaves it
        session.execute(update(Document).where(Document.id == document_id).values(
            indexing_status="indexing", lease_owner="dead", lease_expires_at=utcnow() - timedelta(seconds=1)))
    requeued: list[str] = []

    def documents() -> None:
        for doc in kb.indexer.reap(max_attempts=3, requeue_after=60):
            requeued.append(doc)
            container.queue.enqueue_index(doc)  # Huey immediate mode: the index_document task runs now

    reaper = Reaper(Leases(container.sessions, 30), container.queue.enqueue_run, lambda _: None, interval=1,
                    max_attempts=3, max_seconds=60, requeue_after=60, documents=documents)
    reaper.sweep()
    assert requeued == [document_id]
    detail = kb.documents.get(workspace_id, dataset_id, document_id)
    assert detail["indexing_status"] == "completed" and detail["segment_count"] == 1
