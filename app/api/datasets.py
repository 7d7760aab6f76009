"""Dify's Knowledge API under `/v1/datasets`, authenticated by `ds-` keys (app keys are refused here, and
dataset keys by the app endpoints). Views parse, call `container().knowledge` and serialize."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from app.api import container
from app.api.auth import bearer_token
from app.api.schemas import parse_json, validate
from app.errors import InvalidParam, NoFileUploaded, TooManyFiles
from app.rag.splitting import ProcessRule
from app.services.datasets import DatasetPrincipal
from app.services.files import StoredFile
from app.services.runs import parse_page

datasets = Blueprint("datasets", __name__)


def principal() -> DatasetPrincipal:
    return container().knowledge.datasets.authenticate(bearer_token())


class DatasetBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=40)
    description: str = Field(default="", max_length=400)
    indexing_technique: str | None = None
    permission: str | None = None
    retrieval_model: dict[str, Any] | None = None
    embedding_model: str | None = None
    embedding_model_provider: str | None = None


class DatasetPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, min_length=1, max_length=40)
    description: str | None = Field(default=None, max_length=400)
    indexing_technique: str | None = None
    permission: str | None = None
    retrieval_model: dict[str, Any] | None = None


class TextDocument(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, max_length=255)
    text: str | None = None
    indexing_technique: str | None = None
    doc_form: str | None = None
    doc_language: str | None = None
    process_rule: ProcessRule | None = None




def _page(rows: list[dict[str, Any]], total: int, page: int, limit: int) -> Response:
    return jsonify({"data": rows, "has_more": page * limit < total, "limit": limit, "total": total, "page": page})


@datasets.post("/datasets")
def create_dataset() -> Response:
    who = principal()
    body = parse_json(DatasetBody)
    return jsonify(container().knowledge.datasets.create(who.workspace_id, body.model_dump()))


@datasets.get("/datasets")
def list_datasets() -> Response:
    who = principal()
    page, limit = parse_page(request.args)
    rows, total = container().knowledge.datasets.list(who.workspace_id, page, limit, request.args.get("keyword"),
                                                      request.args.getlist("tag_ids") or None)
    return _page(rows, total, page, limit)


@datasets.get("/datasets/<dataset_id>")
def get_dataset(dataset_id: str) -> Response:
    return jsonify(container().knowledge.datasets.get(principal().workspace_id, dataset_id))


@datasets.patch("/datasets/<dataset_id>")
def update_dataset(dataset_id: str) -> Response:
    who = principal()
    body = parse_json(DatasetPatch)
    return jsonify(container().knowledge.datasets.update(who.workspace_id, dataset_id,
                                                         body.model_dump(exclude_none=True)))


@datasets.delete("/datasets/<dataset_id>")
def delete_dataset(dataset_id: str) -> tuple[str, int]:
    container().knowledge.datasets.delete(principal().workspace_id, dataset_id)
    return "", 204


def _file_form() -> tuple[StoredFile, dict[str, Any]]:
    """The multipart `file` (exactly one) stored as an upload, and the `data` JSON field."""
    files = request.files.getlist("file")
    if not files:
        raise NoFileUploaded()
    if len(files) > 1 or len(request.files) > 1:
        raise TooManyFiles()
    raw = request.form.get("data") or "{}"
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidParam("data must be a JSON object", params="data") from exc
    if not isinstance(data, dict):
        raise InvalidParam("data must be a JSON object", params="data")
    upload = files[0]
    stored = container().knowledge.files.upload(principal().workspace_id, upload.filename or "",
                                                upload.read(), upload.mimetype, None, documents_only=True)
    return stored, data


def _rule(body: TextDocument) -> ProcessRule:
    return body.process_rule or ProcessRule()


@datasets.post("/datasets/<dataset_id>/document/create-by-text")
@datasets.post("/datasets/<dataset_id>/document/create_by_text")
def create_by_text(dataset_id: str) -> Response:
    who = principal()
    body = parse_json(TextDocument)
    if not body.name or body.text is None:
        raise InvalidParam("name and text are required", params="name" if not body.name else "text")
    kb = container().knowledge
    stored = kb.documents.store_text(who.workspace_id, body.name, body.text)
    return jsonify(kb.documents.create(who.workspace_id, dataset_id, body.name, stored, _rule(body),
                                       body.model_dump(exclude={"process_rule"})))


@datasets.post("/datasets/<dataset_id>/document/create-by-file")
@datasets.post("/datasets/<dataset_id>/document/create_by_file")
def create_by_file(dataset_id: str) -> Response:
    who = principal()
    stored, data = _file_form()
    body = validate(TextDocument, data)
    return jsonify(container().knowledge.documents.create(who.workspace_id, dataset_id, body.name or stored.name,
                                                          stored, _rule(body),
                                                          body.model_dump(exclude={"process_rule"})))


@datasets.post("/datasets/<dataset_id>/documents/<document_id>/update-by-text")
@datasets.post("/datasets/<dataset_id>/documents/<document_id>/update_by_text")
def update_by_text(dataset_id: str, document_id: str) -> Response:
    who = principal()
    body = parse_json(TextDocument)
    kb = container().knowledge
    stored = kb.documents.store_text(who.workspace_id, body.name or "document", body.text) \
        if body.text is not None else None
    return jsonify(kb.documents.update(who.workspace_id, dataset_id, document_id, body.name, stored,
                                       body.process_rule))


@datasets.post("/datasets/<dataset_id>/documents/<document_id>/update-by-file")
@datasets.post("/datasets/<dataset_id>/documents/<document_id>/update_by_file")
def update_by_file(dataset_id: str, document_id: str) -> Response:
    who = principal()
    stored, data = _file_form()
    body = validate(TextDocument, data)
    return jsonify(container().knowledge.documents.update(who.workspace_id, dataset_id, document_id,
                                                          body.name or stored.name, stored, body.process_rule))


@datasets.get("/datasets/<dataset_id>/documents")
def list_documents(dataset_id: str) -> Response:
    who = principal()
    page, limit = parse_page(request.args)
    rows, total = container().knowledge.documents.list(who.workspace_id, dataset_id, page, limit,
                                                       request.args.get("keyword"))
    return _page(rows, total, page, limit)


@datasets.get("/datasets/<dataset_id>/documents/<document_id>")
def get_document(dataset_id: str, document_id: str) -> Response:
    return jsonify(container().knowledge.documents.get(principal().workspace_id, dataset_id, document_id))


@datasets.get("/datasets/<dataset_id>/documents/<document_id>/upload-file")
def document_upload_file(dataset_id: str, document_id: str) -> Response:
    return jsonify(container().knowledge.documents.upload_file(principal().workspace_id, dataset_id, document_id))


@datasets.delete("/datasets/<dataset_id>/documents/<document_id>")
def delete_document(dataset_id: str, document_id: str) -> tuple[str, int]:
    container().knowledge.documents.delete(principal().workspace_id, dataset_id, document_id)
    return "", 204


class StatusBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    document_ids: list[str] = Field(min_length=1)


@datasets.patch("/datasets/<dataset_id>/documents/status/<action>")
def document_status(dataset_id: str, action: str) -> Response:
    who = principal()
    body = parse_json(StatusBody)
    container().knowledge.documents.set_status(who.workspace_id, dataset_id, action, body.document_ids)
    return jsonify({"result": "success"})


@datasets.get("/datasets/<dataset_id>/documents/<batch>/indexing-status")
def indexing_status(dataset_id: str, batch: str) -> Response:
    return jsonify({"data": container().knowledge.documents.indexing_status(principal().workspace_id, dataset_id,
                                                                            batch)})


class SegmentsBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    segments: list[dict[str, Any]] = Field(min_length=1)


class SegmentBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    segment: dict[str, Any]


@datasets.get("/datasets/<dataset_id>/documents/<document_id>/segments")
def list_segments(dataset_id: str, document_id: str) -> Response:
    who = principal()
    page, limit = parse_page(request.args)
    return jsonify(container().knowledge.segments.list(who.workspace_id, dataset_id, document_id, page, limit,
                                                       request.args.get("keyword"), request.args.get("status")))


@datasets.post("/datasets/<dataset_id>/documents/<document_id>/segments")
def add_segments(dataset_id: str, document_id: str) -> Response:
    who = principal()
    body = parse_json(SegmentsBody)
    return jsonify(container().knowledge.segments.add(who.workspace_id, dataset_id, document_id, body.segments))


@datasets.get("/datasets/<dataset_id>/documents/<document_id>/segments/<segment_id>")
def get_segment(dataset_id: str, document_id: str, segment_id: str) -> Response:
    return jsonify(container().knowledge.segments.get(principal().workspace_id, dataset_id, document_id,
                                                      segment_id))


@datasets.post("/datasets/<dataset_id>/documents/<document_id>/segments/<segment_id>")
@datasets.patch("/datasets/<dataset_id>/documents/<document_id>/segments/<segment_id>")
def update_segment(dataset_id: str, document_id: str, segment_id: str) -> Response:
    who = principal()
    body = parse_json(SegmentBody)
    return jsonify(container().knowledge.segments.update(who.workspace_id, dataset_id, document_id, segment_id,
                                                         body.segment))


@datasets.delete("/datasets/<dataset_id>/documents/<document_id>/segments/<segment_id>")
def delete_segment(dataset_id: str, document_id: str, segment_id: str) -> tuple[str, int]:
    container().knowledge.segments.delete(principal().workspace_id, dataset_id, document_id, segment_id)
    return "", 204


class RetrieveBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: str = Field(min_length=1)
    retrieval_model: dict[str, Any] | None = None


@datasets.post("/datasets/<dataset_id>/retrieve")
@datasets.post("/datasets/<dataset_id>/hit-testing")
def retrieve(dataset_id: str) -> Response:
    who = principal()
    body = parse_json(RetrieveBody)
    return jsonify(container().knowledge.knowledge.retrieve(who.workspace_id, dataset_id,
                                                            body.model_dump(exclude_none=True)))
