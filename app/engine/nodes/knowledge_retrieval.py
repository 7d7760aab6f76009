"""`knowledge-retrieval`: fetches chunks for a query from the app's datasets through the retriever port and
outputs them as `result`, a list in Dify's shape (`content`, `title`, `metadata{_source, position, score,
dataset_id, document_id, ...}`), best first.

Dataset ids are not checked at import: exports carry ids of the workspace they came from; the retriever
only searches datasets the run's workspace owns, so unknown ids simply find nothing.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.engine.nodes.base import Node, NodeContext, NodeData, NodeResult
from app.errors import WorkflowError

DEFAULT_TOP_K = 4
SEARCH_METHOD = "semantic_search"


class MultipleConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    top_k: int = DEFAULT_TOP_K
    score_threshold: float | None = None
    score_threshold_enabled: bool | None = None
    reranking_mode: str | None = None  # weighted_score | reranking_model
    weights: dict[str, Any] | None = None  # {vector_setting: {vector_weight}, keyword_setting: {keyword_weight}}


class RetrievalData(NodeData):
    query_variable_selector: list[str] = Field(default_factory=list)
    dataset_ids: list[str] = Field(default_factory=list)
    retrieval_mode: str = "multiple"
    multiple_retrieval_config: MultipleConfig | None = None

    @field_validator("dataset_ids", mode="before")
    @classmethod
    def _as_strings(cls, value: Any) -> Any:
        return [str(v) for v in value] if isinstance(value, list) else value


def _shape(chunk: dict[str, Any], position: int) -> dict[str, Any]:
    metadata = dict(chunk.get("metadata") or {})
    metadata.setdefault("_source", "knowledge")
    metadata.setdefault("position", position)
    return {"metadata": metadata, "title": str(chunk.get("title") or metadata.get("document_name") or ""),
            "content": str(chunk.get("content") or "")}


class KnowledgeRetrievalNode(Node):
    type = "knowledge-retrieval"
    data_model = RetrievalData
    data: RetrievalData

    def selectors(self) -> list[list[str]]:
        return [self.data.query_variable_selector] if self.data.query_variable_selector else []

    def _limits(self) -> tuple[int, float | None]:
        config = self.data.multiple_retrieval_config
        if self.data.retrieval_mode != "multiple" or config is None:
            return DEFAULT_TOP_K, None
        threshold = config.score_threshold if config.score_threshold_enabled is not False else None
        return max(1, config.top_k), threshold

    def _search(self) -> tuple[str, dict[str, Any] | None]:
        """Dify's multiple mode with `weighted_score` reranking is a hybrid search with those weights; every
        other configuration searches semantically (rerank models are not run: fusion is rerank-free)."""
        config = self.data.multiple_retrieval_config
        if self.data.retrieval_mode == "multiple" and config and config.weights and \
                config.reranking_mode in (None, "weighted_score"):
            return "hybrid_search", config.weights
        return SEARCH_METHOD, None

    def run(self, ctx: NodeContext) -> NodeResult:
        query = ctx.pool.get(self.data.query_variable_selector)
        if query is None or query == "":
            raise WorkflowError("Query is required.")
        query_text = query if isinstance(query, str) else str(query)
        top_k, threshold = self._limits()
        method, weights = self._search()
        chunks: list[dict[str, Any]] = []
        if self.data.dataset_ids:
            args = (ctx.workspace_id, list(self.data.dataset_ids), query_text, top_k, threshold, method)
            # Weighted (hybrid) fusion only when the node asks for it; the base port has no weights argument.
            chunks = (ctx.services.retriever.retrieve(*args, weights=weights) if weights
                      else ctx.services.retriever.retrieve(*args))
        result = [_shape(chunk, i + 1) for i, chunk in enumerate(chunks[:top_k])]
        return NodeResult(inputs={"query": query_text},
                          process_data={"dataset_ids": list(self.data.dataset_ids), "top_k": top_k,
                                        "score_threshold": threshold, "retrieval_mode": self.data.retrieval_mode},
                          outputs={"result": result})
