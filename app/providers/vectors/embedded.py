"""The embedded vector store: vectors persisted in a SQLite file under TRELLIS_HOME, searched by numpy brute
force over a per-namespace matrix held in memory.

Several processes (API and worker) share the file: each write bumps the namespace's version row, and a reader
reloads its matrix when the version it cached is stale, so a query never misses a committed write. Brute force
is exact; at 100k x 512 float32 it is a ~200 MB matrix and a few milliseconds per query.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.providers.vectors import VectorHit, VectorRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    namespace TEXT NOT NULL, id TEXT NOT NULL, document_id TEXT NOT NULL, generation INTEGER NOT NULL,
    data BLOB NOT NULL, PRIMARY KEY (namespace, id));
CREATE INDEX IF NOT EXISTS ix_vectors_document ON vectors (namespace, document_id);
CREATE TABLE IF NOT EXISTS versions (namespace TEXT PRIMARY KEY, version INTEGER NOT NULL);
"""


@dataclass
class _Matrix:
    version: int
    ids: list[str]
    documents: np.ndarray
    vectors: np.ndarray


class EmbeddedVectorStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA busy_timeout=30000")
            self._conn.executescript(SCHEMA)
        self._cache: dict[str, _Matrix] = {}

    def _write(self, namespace: str, statements: Sequence[tuple[str, Sequence[object]]],
               many: Sequence[tuple[str, list[tuple[object, ...]]]] = ()) -> None:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    self._conn.execute(sql, params)
                for sql, rows in many:
                    self._conn.executemany(sql, rows)
                self._conn.execute("INSERT INTO versions (namespace, version) VALUES (?, 1) ON CONFLICT(namespace) "
                                   "DO UPDATE SET version = version + 1", (namespace,))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> None:
        rows = [(namespace, r.id, r.document_id, r.generation, np.asarray(r.vector, dtype=np.float32).tobytes())
                for r in records]
        self._write(namespace, [], [("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?, ?)", rows)])

    def delete_document(self, namespace: str, document_id: str, keep_generation: int | None = None) -> None:
        if keep_generation is None:
            stmt = ("DELETE FROM vectors WHERE namespace = ? AND document_id = ?", (namespace, document_id))
        else:
            stmt = ("DELETE FROM vectors WHERE namespace = ? AND document_id = ? AND generation <> ?",
                    (namespace, document_id, keep_generation))
        self._write(namespace, [stmt])

    def delete_ids(self, namespace: str, ids: Sequence[str]) -> None:
        self._write(namespace, [], [("DELETE FROM vectors WHERE namespace = ? AND id = ?",
                                     [(namespace, i) for i in ids])])

    def drop_namespace(self, namespace: str) -> None:
        self._write(namespace, [("DELETE FROM vectors WHERE namespace = ?", (namespace,))])
        self._cache.pop(namespace, None)

    def _matrix(self, namespace: str) -> _Matrix | None:
        with self._lock:
            row = self._conn.execute("SELECT version FROM versions WHERE namespace = ?", (namespace,)).fetchone()
            if row is None:
                return None
            cached = self._cache.get(namespace)
            if cached is not None and cached.version == row[0]:
                return cached
            # Read rows and version in one snapshot so the cache is never newer than its version tag.
            self._conn.execute("BEGIN")
            version = self._conn.execute("SELECT version FROM versions WHERE namespace = ?", (namespace,)).fetchone()
            rows = self._conn.execute("SELECT id, document_id, data FROM vectors WHERE namespace = ?",
                                      (namespace,)).fetchall()
            self._conn.execute("COMMIT")
        vectors = (np.stack([np.frombuffer(r[2], dtype=np.float32) for r in rows]) if rows
                   else np.zeros((0, 1), dtype=np.float32))
        matrix = _Matrix(version[0], [r[0] for r in rows], np.array([r[1] for r in rows], dtype=object), vectors)
        self._cache[namespace] = matrix
        return matrix

    def query(self, namespace: str, vector: np.ndarray, top_k: int,
              document_ids: Sequence[str] | None = None) -> list[VectorHit]:
        matrix = self._matrix(namespace)
        if matrix is None or not matrix.ids or top_k <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32)
        if query.shape[0] != matrix.vectors.shape[1]:
            return []  # vectors of another embedding model: nothing comparable
        scores = matrix.vectors @ query
        if document_ids is not None:
            scores = np.where(np.isin(matrix.documents, list(document_ids)), scores, -np.inf)
        k = min(top_k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best])]
        return [VectorHit(matrix.ids[i], float(scores[i])) for i in best if np.isfinite(scores[i])]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
