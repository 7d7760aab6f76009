"""pgvector on Postgres: one table per embedding dimension (`trellis_vectors_<dim>`), an HNSW index with
cosine distance, and a btree on (namespace, document_id) for deletes.

The tables and the `vector` extension are created on first use under an advisory lock, so concurrent workers do
not race. On pgvector >= 0.8 filtered queries use iterative index scans, so a namespace filter still returns
`top_k` rows. The engine is injected (normally the application's own database: RDS ships the extension).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from app.errors import ServiceUnavailable
from app.providers.vectors import VectorHit, VectorRecord, vector_literal

LOCK_KEY = 7_231_004  # pg_advisory_xact_lock key guarding DDL


class PgVectorStore:
    def __init__(self, engine: Engine, ef_search: int = 100) -> None:
        if engine.dialect.name != "postgresql":
            raise RuntimeError("VECTOR_STORE=pgvector needs DATABASE_URL to point at Postgres")
        self._engine = engine
        self._ef_search = ef_search
        self._ready: set[int] = set()
        self._lock = threading.Lock()

    @staticmethod
    def _table(dims: int) -> str:
        return f"trellis_vectors_{int(dims)}"

    def _ensure(self, dims: int) -> str:
        table = self._table(dims)
        with self._lock:
            if dims in self._ready:
                return table
            try:
                with self._engine.begin() as conn:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
                    conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
                    conn.execute(text(
                        f"CREATE TABLE IF NOT EXISTS {table} (namespace text NOT NULL, id text NOT NULL, "
                        f"document_id text NOT NULL, generation integer NOT NULL, embedding vector({int(dims)}) "
                        f"NOT NULL, PRIMARY KEY (namespace, id))"))
                    conn.execute(text(f"CREATE INDEX IF NOT EXISTS {table}_hnsw ON {table} "
                                      f"USING hnsw (embedding vector_cosine_ops)"))
                    conn.execute(text(f"CREATE INDEX IF NOT EXISTS {table}_doc ON {table} (namespace, document_id)"))
            except DBAPIError as exc:
                raise ServiceUnavailable(f"pgvector is not available: {exc.orig.__class__.__name__}") from exc
            self._ready.add(dims)
        return table

    def _tables(self) -> list[str]:
        with self._engine.connect() as conn:
            rows = conn.execute(text("SELECT tablename FROM pg_tables WHERE tablename LIKE 'trellis_vectors_%'"))
            return [r[0] for r in rows]

    def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> None:
        if not records:
            return
        table = self._ensure(len(records[0].vector))
        rows = [{"ns": namespace, "id": r.id, "doc": r.document_id, "gen": r.generation,
                 "vec": vector_literal(r.vector)} for r in records]
        with self._engine.begin() as conn:
            conn.execute(text(
                f"INSERT INTO {table} (namespace, id, document_id, generation, embedding) "
                f"VALUES (:ns, :id, :doc, :gen, CAST(:vec AS vector)) ON CONFLICT (namespace, id) DO UPDATE SET "
                f"document_id = EXCLUDED.document_id, generation = EXCLUDED.generation, "
                f"embedding = EXCLUDED.embedding"), rows)

    def query(self, namespace: str, vector: np.ndarray, top_k: int,
              document_ids: Sequence[str] | None = None) -> list[VectorHit]:
        if top_k <= 0:
            return []
        table = self._ensure(len(vector))
        where = "namespace = :ns" + (" AND document_id = ANY(:docs)" if document_ids is not None else "")
        params = {"ns": namespace, "vec": vector_literal(vector), "k": top_k, "docs": list(document_ids or [])}
        with self._engine.begin() as conn:
            conn.execute(text(f"SET LOCAL hnsw.ef_search = {max(self._ef_search, top_k)}"))
            # A placeholder setting on pgvector < 0.8 (ignored there); iterative scans from 0.8 on.
            conn.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
            rows = conn.execute(text(
                f"SELECT id, 1 - (embedding <=> CAST(:vec AS vector)) AS score FROM {table} WHERE {where} "
                f"ORDER BY embedding <=> CAST(:vec AS vector) LIMIT :k"), params).all()
        return sorted((VectorHit(r.id, float(r.score)) for r in rows), key=lambda h: -h.score)

    def delete_document(self, namespace: str, document_id: str, keep_generation: int | None = None) -> None:
        keep = "" if keep_generation is None else " AND generation <> :gen"
        with self._engine.begin() as conn:
            for table in self._tables():
                conn.execute(text(f"DELETE FROM {table} WHERE namespace = :ns AND document_id = :doc{keep}"),
                             {"ns": namespace, "doc": document_id, "gen": keep_generation})

    def delete_ids(self, namespace: str, ids: Sequence[str]) -> None:
        with self._engine.begin() as conn:
            for table in self._tables():
                conn.execute(text(f"DELETE FROM {table} WHERE namespace = :ns AND id = ANY(:ids)"),
                             {"ns": namespace, "ids": list(ids)})

    def drop_namespace(self, namespace: str) -> None:
        with self._engine.begin() as conn:
            for table in self._tables():
                conn.execute(text(f"DELETE FROM {table} WHERE namespace = :ns"), {"ns": namespace})
