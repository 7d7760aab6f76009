"""Vector stores: one protocol, three backends (embedded SQLite+numpy, pgvector, Pinecone), chosen in
`app/wiring.py` from VECTOR_STORE.

A namespace is a dataset id. A record is one segment's vector, tagged with its document and the indexing
`generation` that wrote it, so a re-index can drop every vector of older generations (including those an
interrupted attempt left behind) in one call. Scores are cosine similarities. Adapters translate vendor errors
into `app.errors` and never return vendor types. Imports nothing from services, engine or api.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class VectorRecord:
    id: str
    document_id: str
    generation: int
    vector: np.ndarray


@dataclass(frozen=True)
class VectorHit:
    id: str
    score: float


class VectorStore(Protocol):
    def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> None:
        """Insert or replace records by id. Idempotent."""
        ...

    def query(self, namespace: str, vector: np.ndarray, top_k: int,
              document_ids: Sequence[str] | None = None) -> list[VectorHit]:
        """The `top_k` nearest records by cosine similarity, best first, optionally only of `document_ids`."""
        ...

    def delete_document(self, namespace: str, document_id: str, keep_generation: int | None = None) -> None:
        """Remove the document's vectors, except those of `keep_generation` when given."""
        ...

    def delete_ids(self, namespace: str, ids: Sequence[str]) -> None:
        ...

    def drop_namespace(self, namespace: str) -> None:
        """Remove every vector of the namespace; a missing namespace is not an error."""
        ...


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form `[x,y,...]`."""
    return "[" + ",".join(f"{float(x):.7g}" for x in vector) + "]"


__all__ = ["VectorHit", "VectorRecord", "VectorStore", "vector_literal"]
