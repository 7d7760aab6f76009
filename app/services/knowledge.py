"""Retrieval over datasets: the Knowledge API's `/retrieve` (and `/hit-testing`) and the engine's
`KnowledgeRetriever` port, on the same code path.

Only datasets of the caller's workspace are searched (unknown ids find nothing). Candidates from the search
methods (`app.rag.retrieval`) are over-fetched, then filtered to enabled segments of enabled, unarchived
documents, cut by `score_threshold` and `top_k`; each returned segment's `hit_count` is incremented.

Query embeddings are metered (when a usage recorder is given) to the workspace, and to the app and run when
the engine retrieves inside a run (`scoped_services`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.engine.ports import NodeServices
from app.errors import InvalidParam
from app.models import Dataset, Document, DocumentSegment
from app.providers.embeddings import Embeddings
from app.rag.retrieval import Searcher, SearchMethod, Target, Weights
from app.services import dataset_views
from app.services.dataset_metadata import values_of
from app.services.dataset_scope import owned_dataset
from app.services.dataset_views import DEFAULT_RETRIEVAL_MODEL
from app.services.metadata_filter import MetadataConditions
from app.services.metering import UsageRecorder, embedding_hook


class RetrievalModel(BaseModel):
    """Dify's `retrieval_model`; reranking fields are accepted and ignored (fusion is rerank-free). Metadata
    conditions keep only segments of documents whose metadata passes them."""

    model_config = ConfigDict(extra="ignore")

    search_method: SearchMethod = SearchMethod.semantic_search
    top_k: int = Field(default=2, ge=1, le=100)
    score_threshold_enabled: bool = False
    score_threshold: float | None = None
    weights: dict[str, Any] | None = None
    metadata_filtering_conditions: MetadataConditions | None = None

    def threshold(self) -> float | None:
        return self.score_threshold if self.score_threshold_enabled else None

    def fusion(self) -> Weights:
        weights = self.weights or {}
        vector = (weights.get("vector_setting") or {}).get("vector_weight")
        keyword = (weights.get("keyword_setting") or {}).get("keyword_weight")
        if vector is None and keyword is None:
            return Weights()
        vector = 1.0 - float(keyword) if vector is None else float(vector)
        return Weights(vector=vector, keyword=1.0 - vector if keyword is None else float(keyword))


Hit = tuple[DocumentSegment, Document, Dataset, float]


@dataclasses.dataclass(frozen=True)
class UsageScope:
    """Who a query embedding is billed to besides the workspace: the app and run retrieving."""

    app_id: str | None = None
    run_id: str | None = None


class Knowledge:
    def __init__(self, sessions: sessionmaker[Session], searcher: Searcher, embeddings: Embeddings,
                 recorder: UsageRecorder | None = None) -> None:
        self._sessions = sessions
        self._searcher = searcher
        self._embeddings = embeddings
        self._recorder = recorder

    def _targets(self, datasets: list[Dataset], scope: UsageScope = UsageScope()) -> list[Target]:
        return [Target(d.id, None if d.indexing_technique == "economy" else self._embeddings.for_model(
                    d.embedding_model_provider, d.embedding_model, on_call=embedding_hook(
                        self._recorder, workspace_id=d.workspace_id, provider=d.embedding_model_provider,
                        app_id=scope.app_id, run_id=scope.run_id)))
                for d in datasets]

    def search(self, workspace_id: str, dataset_ids: list[str], query: str, model: RetrievalModel,
               scope: UsageScope = UsageScope()) -> list[Hit]:
        """Best first. Raises ProviderRequestError when the query cannot be embedded."""
        with self._sessions() as session:
            datasets = session.scalars(select(Dataset).where(Dataset.workspace_id == workspace_id,
                                                             Dataset.id.in_(dataset_ids))).all()
        if not datasets or not query.strip():
            return []
        candidates = self._searcher.search(self._targets(list(datasets), scope), query, model.search_method,
                                           model.top_k * 3 + 10, model.fusion())
        by_id = {d.id: d for d in datasets}
        with self._sessions() as session:
            rows = session.execute(select(DocumentSegment, Document).join(
                Document, Document.id == DocumentSegment.document_id).where(
                DocumentSegment.id.in_([c.id for c in candidates]), DocumentSegment.enabled.is_(True),
                Document.enabled.is_(True), Document.archived.is_(False))).all()
            conditions = model.metadata_filtering_conditions
            if conditions is not None and conditions.conditions:
                docs = list({doc.id: doc for _, doc in rows}.values())
                meta = values_of(session, docs)
                allowed = {d.id for d in docs if conditions.matches({m["name"]: m["value"] for m in meta[d.id]})}
                rows = [row for row in rows if row[1].id in allowed]
        found = {seg.id: (seg, doc) for seg, doc in rows}
        threshold = model.threshold()
        hits: list[Hit] = []
        for candidate in candidates:
            if candidate.id in found and (threshold is None or candidate.score >= threshold):
                seg, doc = found[candidate.id]
                hits.append((seg, doc, by_id[seg.dataset_id], candidate.score))
            if len(hits) == model.top_k:
                break
        if hits:
            with transaction(self._sessions) as session:
                session.execute(update(DocumentSegment).where(DocumentSegment.id.in_([h[0].id for h in hits]))
                                .values(hit_count=DocumentSegment.hit_count + 1))
        return hits

    def retrieve(self, workspace_id: str, dataset_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """`POST /datasets/{id}/retrieve`: `{"query": {"content"}, "records": [...]}` in Dify's shape."""
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise InvalidParam("query is required", params="query")
        with self._sessions() as session:
            dataset = owned_dataset(session, workspace_id, dataset_id)
            configured = {**DEFAULT_RETRIEVAL_MODEL, **(dataset.retrieval_model or {})}
        try:
            model = RetrievalModel.model_validate({**configured, **(body.get("retrieval_model") or {})})
        except ValidationError as exc:
            first = exc.errors()[0]
            field = "retrieval_model." + ".".join(str(p) for p in first["loc"])
            raise InvalidParam(f"{field}: {first['msg']}", params=field) from exc
        hits = self.search(workspace_id, [dataset_id], query, model)
        with self._sessions() as session:
            metadata = values_of(session, [doc for _, doc, _, _ in hits])
        return {"query": {"content": query},
                "records": [dataset_views.record(seg, doc, score, metadata[doc.id]) for seg, doc, _, score in hits]}


class KnowledgeRetrieverAdapter:
    """The engine's `KnowledgeRetriever` port: chunks in Dify's retrieval-result shape."""

    def __init__(self, knowledge: Knowledge, scope: UsageScope = UsageScope()) -> None:
        self._knowledge = knowledge
        self._scope = scope

    def scoped(self, app_id: str | None, run_id: str | None) -> KnowledgeRetrieverAdapter:
        """The same retriever, billing its query embeddings to this app and run."""
        return KnowledgeRetrieverAdapter(self._knowledge, UsageScope(app_id, run_id))

    def retrieve(self, workspace_id: str, dataset_ids: list[str], query: str, top_k: int,
                 score_threshold: float | None, search_method: str,
                 weights: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        model = RetrievalModel(search_method=SearchMethod(search_method), top_k=max(1, top_k),
                               score_threshold_enabled=score_threshold is not None,
                               score_threshold=score_threshold, weights=weights)
        hits = self._knowledge.search(workspace_id, dataset_ids, query, model, self._scope)
        return [{"content": seg.content, "title": doc.name, "metadata": {
            "_source": "knowledge", "position": i, "dataset_id": dataset.id, "dataset_name": dataset.name,
            "document_id": doc.id, "document_name": doc.name, "document_data_source_type": doc.data_source_type,
            "segment_id": seg.id, "retriever_from": "workflow", "score": score, "segment_hit_count": seg.hit_count,
            "segment_word_count": seg.word_count, "segment_position": seg.position,
            "segment_index_node_hash": seg.index_node_hash}}
            for i, (seg, doc, dataset, score) in enumerate(hits, start=1)]


def scoped_services(services: NodeServices, app_id: str | None, run_id: str | None) -> NodeServices:
    """One run's node services: its retrieval embeddings are billed to its app and run. The other ports are
    shared as they are."""
    if not isinstance(services.retriever, KnowledgeRetrieverAdapter):
        return services
    return dataclasses.replace(services, retriever=services.retriever.scoped(app_id, run_id))
