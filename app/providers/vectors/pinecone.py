"""Pinecone through the `pinecone` SDK (v10+; the old `pinecone-client` package is deprecated): one dense
index created with a dimension and the cosine metric, one namespace per dataset.

The SDK's `Index` (data plane) is injected; `build_pinecone_index` makes one from an API key and the index
host. Deletes by document use a metadata filter on `document_id` and `generation`. SDK errors become
`ServiceUnavailable` (retryable) with the cause chained; a missing namespace on delete is not an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from app.errors import ServiceUnavailable
from app.providers.vectors import VectorHit, VectorRecord

UPSERT_BATCH = 100


def _unavailable(exc: Exception) -> ServiceUnavailable:
    return ServiceUnavailable(f"Pinecone request failed: {type(exc).__name__}")


class PineconeVectorStore:
    def __init__(self, index: Any) -> None:
        self._index = index

    def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> None:
        for start in range(0, len(records), UPSERT_BATCH):
            batch = [{"id": r.id, "values": [float(x) for x in r.vector],
                      "metadata": {"document_id": r.document_id, "generation": r.generation}}
                     for r in records[start:start + UPSERT_BATCH]]
            try:
                self._index.upsert(vectors=batch, namespace=namespace)
            except Exception as exc:  # pinecone.errors.PineconeError and transport errors
                raise _unavailable(exc) from exc

    def query(self, namespace: str, vector: np.ndarray, top_k: int,
              document_ids: Sequence[str] | None = None) -> list[VectorHit]:
        if top_k <= 0:
            return []
        kwargs: dict[str, Any] = {}
        if document_ids is not None:
            kwargs["filter"] = {"document_id": {"$in": list(document_ids)}}
        try:
            response = self._index.query(vector=[float(x) for x in vector], top_k=top_k, namespace=namespace,
                                         include_metadata=False, include_values=False, **kwargs)
        except Exception as exc:
            if _not_found(exc):
                return []
            raise _unavailable(exc) from exc
        return [VectorHit(str(m.id), float(m.score)) for m in response.matches]

    def _delete(self, namespace: str, **selector: Any) -> None:
        try:
            self._index.delete(namespace=namespace, **selector)
        except Exception as exc:
            if not _not_found(exc):
                raise _unavailable(exc) from exc

    def delete_document(self, namespace: str, document_id: str, keep_generation: int | None = None) -> None:
        flt: dict[str, Any] = {"document_id": {"$eq": document_id}}
        if keep_generation is not None:
            flt["generation"] = {"$ne": keep_generation}
        self._delete(namespace, filter=flt)

    def delete_ids(self, namespace: str, ids: Sequence[str]) -> None:
        if ids:
            self._delete(namespace, ids=list(ids))

    def drop_namespace(self, namespace: str) -> None:
        self._delete(namespace, delete_all=True)


def _not_found(exc: Exception) -> bool:
    return getattr(exc, "status_code", None) == 404 or type(exc).__name__ == "NotFoundError"


def build_pinecone_index(api_key: str, host: str) -> Any:
    """The SDK's data-plane client for the index at `host` (30 s per-request timeout, the SDK's retries)."""
    try:
        from pinecone import Pinecone
    except ImportError as exc:
        raise RuntimeError("VECTOR_STORE=pinecone but the `pinecone` package is not installed") from exc
    return Pinecone(api_key=api_key).index(host=host)
