"""Search methods over one or more datasets and their fusion (Dify's names and weights).

- `semantic_search`: the query's embedding against the dataset's vector namespace (cosine).
- `full_text_search`: BM25 / ts_rank over the segments (see `fulltext`).
- `keyword_search`: full-text candidates re-scored by the share of the query's keywords they contain
  (Dify's economy index).
- `hybrid_search`: semantic and full-text candidates fused without a reranker:
  `vector_weight * cosine + keyword_weight * (full-text score / best full-text score)`, a missing side
  counting 0 (Dify's default weights 0.7 / 0.3).
An `economy` dataset has no vectors: semantic and hybrid fall back to keyword search there.
Returns candidate ids and scores only; the caller loads, filters and formats segments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from app.providers.embeddings import Embedder
from app.providers.vectors import VectorStore
from app.rag.fulltext import FullTextSearch
from app.rag.keywords import words


class SearchMethod(StrEnum):
    semantic_search = "semantic_search"
    full_text_search = "full_text_search"
    keyword_search = "keyword_search"
    hybrid_search = "hybrid_search"


@dataclass(frozen=True)
class Target:
    """A dataset to search; `embedder` is None for an economy (keyword-only) dataset."""

    dataset_id: str
    embedder: Embedder | None


@dataclass(frozen=True)
class Weights:
    vector: float = 0.7
    keyword: float = 0.3


@dataclass(frozen=True)
class Candidate:
    id: str
    score: float


class Searcher:
    def __init__(self, vectors: VectorStore, fulltext: FullTextSearch) -> None:
        self._vectors = vectors
        self._fulltext = fulltext

    def semantic(self, targets: Sequence[Target], query: str, k: int) -> list[Candidate]:
        found: list[Candidate] = []
        vectors: dict[tuple[str, str], object] = {}
        for target in targets:
            if target.embedder is None:
                continue
            key = (target.embedder.provider, target.embedder.model)
            if key not in vectors:  # one embedding call per model, however many datasets share it
                vectors[key] = target.embedder.embed([query])[0]
            hits = self._vectors.query(target.dataset_id, vectors[key], k)  # type: ignore[arg-type]
            found.extend(Candidate(h.id, max(0.0, h.score)) for h in hits)
        return _best(found, k)

    def full_text(self, targets: Sequence[Target], query: str, k: int) -> list[Candidate]:
        hits = self._fulltext.search([t.dataset_id for t in targets], query, k)
        return [Candidate(h.id, h.score) for h in hits]

    def keyword(self, targets: Sequence[Target], query: str, k: int) -> list[Candidate]:
        wanted = set(words(query))
        if not wanted:
            return []
        hits = self._fulltext.search([t.dataset_id for t in targets], query, max(k * 5, 50))
        scored = [Candidate(h.id, len(wanted & set(words(h.content))) / len(wanted)) for h in hits]
        return _best(scored, k)  # stable: equal shares keep the full-text order

    def hybrid(self, targets: Sequence[Target], query: str, k: int, weights: Weights) -> list[Candidate]:
        pool = max(k * 3, 20)
        semantic = {c.id: c.score for c in self.semantic(targets, query, pool)}
        text_hits = self.full_text(targets, query, pool)
        best_text = max((c.score for c in text_hits), default=0.0) or 1.0
        keyword = {c.id: c.score / best_text for c in text_hits}
        fused = [Candidate(i, weights.vector * semantic.get(i, 0.0) + weights.keyword * keyword.get(i, 0.0))
                 for i in dict.fromkeys([*semantic, *keyword])]
        return _best(fused, k)

    def search(self, targets: Sequence[Target], query: str, method: SearchMethod, k: int,
               weights: Weights | None = None) -> list[Candidate]:
        """Up to `k` candidates, best first. Raises ProviderRequestError if embedding the query fails."""
        if not query.strip() or not targets:
            return []
        with_vectors = [t for t in targets if t.embedder is not None]
        economy = [t for t in targets if t.embedder is None]
        if method in (SearchMethod.semantic_search, SearchMethod.hybrid_search) and economy:
            fallback = self.keyword(economy, query, k)
            if not with_vectors:
                return fallback
            rest = self.search(with_vectors, query, method, k, weights)
            return _best([*rest, *fallback], k)
        if method == SearchMethod.semantic_search:
            return self.semantic(targets, query, k)
        if method == SearchMethod.full_text_search:
            return self.full_text(targets, query, k)
        if method == SearchMethod.keyword_search:
            return self.keyword(targets, query, k)
        return self.hybrid(targets, query, k, weights or Weights())


def _best(candidates: list[Candidate], k: int) -> list[Candidate]:
    seen: dict[str, Candidate] = {}
    for c in candidates:
        if c.id not in seen or c.score > seen[c.id].score:
            seen[c.id] = c
    return sorted(seen.values(), key=lambda c: -c.score)[:k]
