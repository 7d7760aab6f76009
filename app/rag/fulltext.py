"""Full-text search over `document_segments` of searchable documents (enabled, not archived):
SQLite FTS5 with BM25, or Postgres tsvector with ts_rank_cd, both with English stemming.

The query is reduced to its keywords and OR-ed, so a natural question matches segments sharing any of its
words, ranked by relevance. Scores are mapped into [0, 1) as s / (1 + s). Reads only; the index itself is kept
in step by the triggers (SQLite) or the expression index (Postgres) of migration 0002.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, bindparam, text

from app.rag.keywords import words

# Segments exist only once an indexing attempt swapped them in, so a document being re-indexed stays searchable.
SEARCHABLE = "s.enabled = :true AND d.enabled = :true AND d.archived = :false AND s.dataset_id IN :datasets"

SQLITE = (f"SELECT s.id AS id, s.content AS content, -bm25(document_segments_fts) AS raw "
          f"FROM document_segments_fts JOIN document_segments s ON s.rowid = document_segments_fts.rowid "
          f"JOIN documents d ON d.id = s.document_id "
          f"WHERE document_segments_fts MATCH :q AND {SEARCHABLE} ORDER BY raw DESC LIMIT :k")

POSTGRES = (f"SELECT s.id AS id, s.content AS content, "
            f"ts_rank_cd(to_tsvector('english', s.content), to_tsquery('english', :q)) AS raw "
            f"FROM document_segments s JOIN documents d ON d.id = s.document_id "
            f"WHERE to_tsvector('english', s.content) @@ to_tsquery('english', :q) AND {SEARCHABLE} "
            f"ORDER BY raw DESC LIMIT :k")


@dataclass(frozen=True)
class TextHit:
    id: str
    content: str
    score: float


class FullTextSearch:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    def search(self, dataset_ids: Sequence[str], query: str, top_k: int) -> list[TextHit]:
        terms = list(dict.fromkeys(words(query)))[:32]
        if not terms or not dataset_ids or top_k <= 0:
            return []
        if self._postgres:
            sql, match = POSTGRES, " | ".join(terms)
        else:
            sql, match = SQLITE, " OR ".join(f'"{t}"' for t in terms)
        stmt = text(sql).bindparams(bindparam("datasets", expanding=True))
        with self._engine.connect() as conn:
            rows = conn.execute(stmt, {"q": match, "k": top_k, "datasets": list(dataset_ids), "true": True,
                                       "false": False}).all()
        return [TextHit(r.id, r.content, max(0.0, float(r.raw)) / (1.0 + max(0.0, float(r.raw)))) for r in rows]
