"""Dify's JSON shapes for datasets, documents, segments, indexing status and retrieval records.

Pure functions of rows already loaded; they never query. Timestamps are Unix seconds like the rest of the
Service API."""

from __future__ import annotations

from typing import Any

from app.models import Dataset, Document, DocumentSegment
from app.services.run_views import ts

DEFAULT_RETRIEVAL_MODEL: dict[str, Any] = {
    "search_method": "semantic_search", "reranking_enable": False, "reranking_mode": None,
    "reranking_model": {"reranking_provider_name": "", "reranking_model_name": ""}, "weights": None,
    "top_k": 2, "score_threshold_enabled": False, "score_threshold": None,
}
INDEXING = ("parsing", "cleaning", "splitting", "indexing")


def dataset(row: Dataset, document_count: int = 0, word_count: int = 0,
            tags: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A dataset. `created_by`/`updated_by` name the workspace: it is the account behind every `ds-` key
    (Dify's SDK models reject null there)."""
    return {
        "id": row.id, "name": row.name, "description": row.description, "provider": row.provider,
        "permission": row.permission, "data_source_type": "upload_file" if document_count else None,
        "indexing_technique": row.indexing_technique, "app_count": 0, "document_count": document_count,
        "word_count": word_count, "created_by": row.workspace_id, "created_at": ts(row.created_at),
        "updated_by": row.workspace_id,
        "updated_at": ts(row.updated_at), "embedding_model": row.embedding_model,
        "embedding_model_provider": row.embedding_model_provider, "embedding_available": True,
        "retrieval_model_dict": {**DEFAULT_RETRIEVAL_MODEL, **(row.retrieval_model or {})}, "tags": tags or [],
        "doc_form": "text_model", "external_knowledge_info": {"external_knowledge_id": None,
                                                              "external_knowledge_api_id": None,
                                                              "external_knowledge_api_name": None,
                                                              "external_knowledge_api_endpoint": None},
        "external_retrieval_model": {"top_k": 2, "score_threshold": 0.0, "score_threshold_enabled": None},
        "doc_metadata": [], "built_in_field_enabled": False,  # filled by the caller that has a session
    }


def display_status(row: Document) -> str:
    if row.archived:
        return "archived"
    if row.indexing_status == "waiting":
        return "queuing"
    if row.indexing_status in INDEXING:
        return "indexing"
    if row.indexing_status in ("error", "paused"):
        return row.indexing_status
    return "available" if row.enabled else "disabled"


def document(row: Document, hit_count: int = 0, doc_metadata: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": row.id, "position": row.position, "data_source_type": row.data_source_type,
        "data_source_info": {"upload_file_id": row.upload_file_id} if row.upload_file_id else None,
        "dataset_process_rule_id": None, "name": row.name, "created_from": row.created_from,
        "created_by": row.workspace_id,
        "created_at": ts(row.created_at), "tokens": row.tokens, "indexing_status": row.indexing_status,
        "error": row.error, "enabled": row.enabled, "disabled_at": ts(row.disabled_at), "disabled_by": None,
        "archived": row.archived, "display_status": display_status(row), "word_count": row.word_count,
        "hit_count": hit_count, "doc_form": row.doc_form, "doc_language": row.doc_language,
        "doc_metadata": doc_metadata or None,  # null when the document has none, as in Dify
    }


def document_detail(row: Document, segment_count: int, hit_count: int,
                    doc_metadata: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {**document(row, hit_count, doc_metadata), "dataset_id": row.dataset_id, "batch": row.batch,
            "dataset_process_rule": row.process_rule, "document_process_rule": row.process_rule,
            "segment_count": segment_count, "average_segment_length":
                (row.word_count // segment_count) if segment_count else 0,
            "updated_at": ts(row.updated_at), "indexing_latency": _latency(row),
            "completed_at": ts(row.completed_at)}


def _latency(row: Document) -> float | None:
    if row.completed_at and row.processing_started_at:
        return (row.completed_at - row.processing_started_at).total_seconds()
    return None


def indexing_status(row: Document, completed_segments: int, total_segments: int) -> dict[str, Any]:
    return {
        "id": row.id, "indexing_status": row.indexing_status,
        "processing_started_at": ts(row.processing_started_at), "parsing_completed_at": ts(row.parsing_completed_at),
        "cleaning_completed_at": ts(row.cleaning_completed_at),
        "splitting_completed_at": ts(row.splitting_completed_at), "completed_at": ts(row.completed_at),
        "paused_at": None, "error": row.error, "stopped_at": None, "completed_segments": completed_segments,
        "total_segments": total_segments,
    }


def segment(row: DocumentSegment) -> dict[str, Any]:
    return {
        "id": row.id, "position": row.position, "document_id": row.document_id, "content": row.content,
        "sign_content": row.content, "answer": row.answer, "word_count": row.word_count, "tokens": row.tokens,
        "keywords": list(row.keywords or []), "index_node_id": row.id, "index_node_hash": row.index_node_hash,
        "hit_count": row.hit_count, "enabled": row.enabled, "disabled_at": ts(row.disabled_at),
        "disabled_by": None, "status": row.status, "created_by": row.workspace_id, "created_at": ts(row.created_at),
        "updated_at": ts(row.updated_at), "indexing_at": ts(row.indexing_at),
        "completed_at": ts(row.completed_at), "error": row.error, "stopped_at": None, "child_chunks": [],
    }


def record(row: DocumentSegment, doc: Document, score: float,
           doc_metadata: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One entry of `/retrieve`'s `records`; the document's metadata as {name: value}, as Dify gives it."""
    body = segment(row)
    body["document"] = {"id": doc.id, "data_source_type": doc.data_source_type, "name": doc.name,
                        "doc_type": None,
                        "doc_metadata": {m["name"]: m["value"] for m in doc_metadata} if doc_metadata else None}
    return {"segment": body, "child_chunks": [], "score": round(score, 6), "tsne_position": None, "files": []}


def embedding_models(models: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Dify's `GET /workspaces/current/models/model-types/text-embedding`: one entry per provider with its
    models, every one active."""
    by_provider: dict[str, list[str]] = {}
    for provider, model in models:
        by_provider.setdefault(provider, []).append(model)
    return [{
        "provider": provider, "label": {"en_US": provider, "zh_Hans": provider}, "icon_small": None,
        "icon_large": None, "status": "active",
        "models": [{"model": name, "label": {"en_US": name, "zh_Hans": name}, "model_type": "text-embedding",
                    "features": None, "fetch_from": "predefined-model", "model_properties": {"context_size": 8191},
                    "deprecated": False, "status": "active", "load_balancing_enabled": False} for name in names],
    } for provider, names in by_provider.items()]
