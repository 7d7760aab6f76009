"""Tags and document metadata of Dify's Knowledge API (`ds-` keys), and the embedding models a dataset can
use: `/v1/datasets/tags` (+ `binding`, `unbinding`), `/v1/datasets/{id}/tags`, `/v1/datasets/{id}/metadata`
(+ `built-in`), `/v1/datasets/{id}/documents/metadata` and
`/v1/workspaces/current/models/model-types/text-embedding`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, ConfigDict, Field

from app.api import container
from app.api.datasets import principal
from app.api.schemas import parse_json
from app.services import dataset_views
from app.services.dataset_metadata import MetadataValue

dataset_labels = Blueprint("dataset_labels", __name__)


class TagBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=50)


class TagRename(TagBody):
    tag_id: str = Field(min_length=1)


class TagRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tag_id: str = Field(min_length=1)


class TagBindingBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tag_ids: list[str] = Field(min_length=1)
    target_id: str = Field(min_length=1)


class TagUnbindingBody(TagRef):
    target_id: str = Field(min_length=1)


@dataset_labels.post("/datasets/tags")
def create_tag() -> Response:
    who = principal()
    return jsonify(container().knowledge.tags.create(who.workspace_id, parse_json(TagBody).name))


@dataset_labels.get("/datasets/tags")
def list_tags() -> Response:
    return jsonify(container().knowledge.tags.list(principal().workspace_id))


@dataset_labels.patch("/datasets/tags")
def rename_tag() -> Response:
    who = principal()
    body = parse_json(TagRename)
    return jsonify(container().knowledge.tags.rename(who.workspace_id, body.tag_id, body.name))


@dataset_labels.delete("/datasets/tags")
def delete_tag() -> tuple[str, int]:
    who = principal()
    container().knowledge.tags.delete(who.workspace_id, parse_json(TagRef).tag_id)
    return "", 204


@dataset_labels.post("/datasets/tags/binding")
def bind_tags() -> tuple[str, int]:
    who = principal()
    body = parse_json(TagBindingBody)
    container().knowledge.tags.bind(who.workspace_id, body.target_id, body.tag_ids)
    return "", 204


@dataset_labels.post("/datasets/tags/unbinding")
def unbind_tag() -> tuple[str, int]:
    who = principal()
    body = parse_json(TagUnbindingBody)
    container().knowledge.tags.unbind(who.workspace_id, body.target_id, body.tag_id)
    return "", 204


# Dify serves GET; some SDKs (dify-dataset-sdk) send POST with an empty body, so both answer the same.
@dataset_labels.route("/datasets/<dataset_id>/tags", methods=["GET", "POST"])
def dataset_tags(dataset_id: str) -> Response:
    return jsonify(container().knowledge.tags.of_dataset(principal().workspace_id, dataset_id))


class MetadataBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str = Field(min_length=1)
    name: str = Field(min_length=1, max_length=255)


class MetadataRename(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=255)


class MetadataValueBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    value: Any = None
    name: str | None = None


class DocumentMetadataBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    document_id: str = Field(min_length=1)
    metadata_list: list[MetadataValueBody]


class DocumentsMetadataBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    operation_data: list[DocumentMetadataBody] = Field(min_length=1)


@dataset_labels.post("/datasets/<dataset_id>/metadata")
def create_metadata(dataset_id: str) -> Response:
    who = principal()
    body = parse_json(MetadataBody)
    return jsonify(container().knowledge.metadata.create(who.workspace_id, dataset_id, body.type, body.name))


@dataset_labels.get("/datasets/<dataset_id>/metadata")
def list_metadata(dataset_id: str) -> Response:
    return jsonify(container().knowledge.metadata.list(principal().workspace_id, dataset_id))


@dataset_labels.patch("/datasets/<dataset_id>/metadata/<metadata_id>")
def rename_metadata(dataset_id: str, metadata_id: str) -> Response:
    who = principal()
    name = parse_json(MetadataRename).name
    return jsonify(container().knowledge.metadata.rename(who.workspace_id, dataset_id, metadata_id, name))


@dataset_labels.delete("/datasets/<dataset_id>/metadata/<metadata_id>")
def delete_metadata(dataset_id: str, metadata_id: str) -> tuple[str, int]:
    container().knowledge.metadata.delete(principal().workspace_id, dataset_id, metadata_id)
    return "", 204


@dataset_labels.get("/datasets/<dataset_id>/metadata/built-in")
def built_in_metadata(dataset_id: str) -> Response:
    principal()
    return jsonify(container().knowledge.metadata.built_in_fields())


@dataset_labels.post("/datasets/<dataset_id>/metadata/built-in/<action>")
def toggle_built_in_metadata(dataset_id: str, action: str) -> Response:
    container().knowledge.metadata.set_built_in(principal().workspace_id, dataset_id, action)
    return jsonify({"result": "success"})


@dataset_labels.post("/datasets/<dataset_id>/documents/metadata")
def update_documents_metadata(dataset_id: str) -> Response:
    who = principal()
    body = parse_json(DocumentsMetadataBody)
    operations = [(op.document_id, [MetadataValue(v.id, v.value) for v in op.metadata_list])
                  for op in body.operation_data]
    container().knowledge.metadata.set_document_values(who.workspace_id, dataset_id, operations)
    return jsonify({"result": "success"})


@dataset_labels.get("/workspaces/current/models/model-types/text-embedding")
def embedding_models() -> Response:
    principal()
    return jsonify({"data": dataset_views.embedding_models(container().knowledge.embeddings.available())})
