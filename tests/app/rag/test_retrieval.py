"""Retrieval quality, measured: recall@3 of each search method on the labelled set in `corpus.py`, through the
real indexing pipeline and stores (embedded SQLite FTS5 + embedded vectors + the offline hashing embedder).
The floors below are the measured values rounded down; docs/benchmarks.md records the numbers."""

from __future__ import annotations

import pytest

from app.rag.retrieval import Searcher, SearchMethod, Weights
from app.services.knowledge import RetrievalModel
from tests.app.rag.corpus import DOCUMENTS, QUESTIONS
from tests.app.services.test_indexing import indexed_dataset

FLOORS = {"semantic_search": 0.95, "full_text_search": 0.9, "keyword_search": 0.85, "hybrid_search": 0.95}


@pytest.fixture
def support_kb(container):
    return indexed_dataset(container, DOCUMENTS)


def recall_at_3(container, workspace_id, dataset_id, names, method: str) -> float:
    found = 0
    for question, expected in QUESTIONS:
        hits = container.knowledge.knowledge.search(workspace_id, [dataset_id], question,
                                                    RetrievalModel(search_method=method, top_k=3))
        found += expected in [names[h[1].id] for h in hits]
    return found / len(QUESTIONS)


@pytest.mark.parametrize("method", list(FLOORS))
def test_recall_at_3_per_method(container, support_kb, method):
    workspace_id, dataset_id, names = support_kb
    recall = recall_at_3(container, workspace_id, dataset_id, names, method)
    print(f"recall@3 {method}: {recall:.2f}")
    assert recall >= FLOORS[method]


def test_hybrid_weights_move_the_ranking(container, support_kb):
    """All-keyword weights must rank exactly as full text does; all-vector weights as semantic search does."""
    workspace_id, dataset_id, _ = support_kb
    kb = container.knowledge
    searcher: Searcher = kb.knowledge._searcher
    target = kb.knowledge._targets([_dataset(container, dataset_id)])
    query = "When is my card charged?"
    keyword_only = searcher.hybrid(target, query, 3, Weights(vector=0.0, keyword=1.0))
    vector_only = searcher.hybrid(target, query, 3, Weights(vector=1.0, keyword=0.0))
    assert [c.id for c in keyword_only] == [c.id for c in searcher.full_text(target, query, 3)]
    assert [c.id for c in vector_only] == [c.id for c in searcher.semantic(target, query, 3)]


def test_score_threshold_and_disabled_documents_are_respected(container, support_kb):
    workspace_id, dataset_id, names = support_kb
    search = container.knowledge.knowledge.search
    strict = search(workspace_id, [dataset_id], "Can I pay with PayPal?",
                    RetrievalModel(search_method=SearchMethod.semantic_search, top_k=5,
                                   score_threshold_enabled=True, score_threshold=0.99))
    assert strict == []
    first = search(workspace_id, [dataset_id], "Can I pay with PayPal?", RetrievalModel(top_k=1))[0]
    doc_id = first[1].id
    container.knowledge.documents.set_status(workspace_id, dataset_id, "disable", [doc_id])
    again = search(workspace_id, [dataset_id], "Can I pay with PayPal?", RetrievalModel(top_k=3))
    assert doc_id not in [h[1].id for h in again]
    assert search("another-workspace", [dataset_id], "Can I pay with PayPal?", RetrievalModel()) == []


def _dataset(container, dataset_id):
    from app.models import Dataset

    with container.sessions() as session:
        return session.get(Dataset, dataset_id)
