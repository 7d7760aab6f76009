"""The knowledge-base use-cases bundled for the container: datasets, documents, segments, files, indexing,
retrieval, tags and document metadata, all sharing one object store, vector store and embeddings resolver (its
endpoint requests metered through `recorder` when given)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.providers.embeddings import Embeddings
from app.providers.objects import ObjectStore
from app.providers.vectors import VectorStore
from app.rag.fulltext import FullTextSearch
from app.rag.retrieval import Searcher
from app.services.dataset_metadata import DatasetMetadata
from app.services.dataset_tags import DatasetTags
from app.services.datasets import Datasets
from app.services.documents import Documents
from app.services.files import Files
from app.services.indexing import Indexer
from app.services.knowledge import Knowledge, KnowledgeRetrieverAdapter
from app.services.metering import UsageRecorder
from app.services.segments import Segments


@dataclass
class KnowledgeBase:
    datasets: Datasets
    documents: Documents
    segments: Segments
    files: Files
    knowledge: Knowledge
    indexer: Indexer
    retriever: KnowledgeRetrieverAdapter
    objects: ObjectStore
    vectors: VectorStore
    embeddings: Embeddings
    tags: DatasetTags
    metadata: DatasetMetadata


def build_knowledge_base(engine: Engine, sessions: sessionmaker[Session], objects: ObjectStore,
                         vectors: VectorStore, embeddings: Embeddings, enqueue: Callable[[str], None],
                         upload_max_bytes: int, lease_seconds: float,
                         recorder: UsageRecorder | None = None) -> KnowledgeBase:
    files = Files(sessions, objects, upload_max_bytes)
    knowledge = Knowledge(sessions, Searcher(vectors, FullTextSearch(engine)), embeddings, recorder)
    return KnowledgeBase(
        datasets=Datasets(sessions, embeddings.default, vectors.drop_namespace),
        documents=Documents(sessions, files, vectors, enqueue),
        segments=Segments(sessions, vectors, embeddings, recorder), files=files, knowledge=knowledge,
        indexer=Indexer(sessions, objects, vectors, embeddings, lease_seconds, recorder),
        retriever=KnowledgeRetrieverAdapter(knowledge), objects=objects, vectors=vectors, embeddings=embeddings,
        tags=DatasetTags(sessions), metadata=DatasetMetadata(sessions))
