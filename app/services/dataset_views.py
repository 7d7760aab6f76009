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


def dataset(row: Dataset, document_count: int = 0, word_count: int = 0) -> dict[str, Any]:
    return {
        "id": row.id, "name": row.name, "description": row.description, "provider": row.provider,
        "permission": row.permission, "data_source_type": "upload_file" if document_count else None,
        "indexing_technique": row.indexing_technique, "app_count": 0, "document_count": document_count,
        "word_count": word_count, "created_by": None, "created_at": ts(row.created_at), "updated_by": None,
        "updated_at": ts(row.updated_at), "embedding_model": row.embedding_model,
        "embedding_model_provider": row.embedding_model_provider, "embedding_available": True,
        "retrieval_model_dict": {**DEFAULT_RETRIEVAL_MODEL, **(row.retrieval_model or {})}, "tags": [],
        "doc_form": "text_model", "external_knowledge_info": {"external_knowledge_id": None,
                                                              "external_knowledge_api_id": None,
                                                              "external_knowledge_api_name": None,
                                                              "external_knowledge_api_endpoint": None},
        "external_retrieval_model": {"top_k": 2, "score_threshold": 0.0, "score_threshold_enabled": None},
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


def document(row: Document, hit_count: int = 0) -> dict[str, Any]:
    return {
        "id": row.id, "position": row.position, "data_source_type": row.data_source_type,
        "data_source_info": {"upload_file_id": row.upload_file_id} if row.upload_file_id else None,
        "dataset_process_rule_id": None, "name": row.name, "created_from": row.created_from, "created_by": None,
        "created_at": ts(row.created_at), "tokens": row.tokens, "indexing_status": row.indexing_status,
        "error": row.error, "enabled": row.enabled, "disabled_at": ts(row.disabled_at), "disabled_by": None,
        "archived": row.archived, "display_status": display_status(row), "word_count": row.word_count,
        "hit_count": hit_count, "doc_form": row.doc_form, "doc_language": row.doc_language,
    }


def document_detail(row: Document, segment_count: int, hit_count: int) -> dict[str, Any]:
    return {**document(row, hit_count), "dataset_id": row.dataset_id, "batch": row.batch,
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
        "disabled_by": None, "status": row.status, "created_by": None, "created_at": ts(row.created_at),
        "updated_at": ts(row.updated_at), "indexing_at": ts(row.indexing_at),
        "completed_at": ts(row.completed_at), "error": row.error, "stopped_at": None, "child_chunks": [],
    }


def record(row: DocumentSegment, doc: Document, score: float) -> dict[str, Any]:
    """One entry of `/retrieve`'s `records`."""
    body = segment(row)
    body["document"] = {"id": doc.id, "data_source_type": doc.data_source_type, "name": doc.name,
                        "doc_type": None, "doc_metadata": None}
    return {"segment": body, "child_chunks": [], "score": round(score, 6), "tsne_position": None, "files": []}
