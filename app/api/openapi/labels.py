"""OpenAPI paths and response schemas of what callers attach to apps and datasets: message feedback, the
app's site and meta (`app-` keys), knowledge tags, document metadata and the embedding model list (`ds-`
keys). Request bodies come from the views' pydantic models (see `__init__.py`)."""

from __future__ import annotations

from app.api.openapi.components import (
    BOOL,
    INT,
    PAGING,
    STR,
    Schema,
    array,
    json_body,
    json_response,
    no_content,
    nullable,
    obj,
    operation,
    path,
    ref,
)

TAG_FEEDBACK, TAG_APP, TAG_KNOWLEDGE = "Feedback", "App", "Knowledge"
APP_KEY, DS_KEY = "AppKey", "DatasetKey"
DATASET, METADATA = path("dataset_id"), path("metadata_id")
ISO = nullable("string")

SCHEMAS: dict[str, Schema] = {
    "Feedback": obj({"id": STR, "app_id": STR, "conversation_id": STR, "message_id": STR,
                     "rating": {"type": "string", "enum": ["like", "dislike"]}, "content": nullable("string"),
                     "from_source": STR, "from_end_user_id": nullable("string"),
                     "from_account_id": nullable("string"), "created_at": ISO, "updated_at": ISO}),
    "Site": obj({"title": STR, "icon_type": nullable("string"), "icon": nullable("string"),
                 "icon_background": nullable("string"), "description": nullable("string"),
                 "default_language": STR, "use_icon_as_answer_icon": BOOL}),
    "Meta": obj({"tool_icons": {"type": "object", "additionalProperties": {
        "anyOf": [STR, obj({"background": STR, "content": STR})]}}}),
    "Tag": obj({"id": STR, "name": STR, "type": STR, "binding_count": nullable("string")}),
    "MetadataField": obj({"id": STR, "type": {"type": "string", "enum": ["string", "number", "time"]},
                          "name": STR}),
    "MetadataList": obj({"doc_metadata": array(obj({"id": STR, "name": STR, "type": STR, "count": INT})),
                         "built_in_field_enabled": BOOL}),
    "EmbeddingProvider": obj({"provider": STR, "status": STR, "models": array(obj(
        {"model": STR, "model_type": STR, "status": STR}))}),
}


def feedback_paths() -> dict[str, Schema]:
    return {
        "/v1/messages/{message_id}/feedbacks": {"post": operation(
            "rateMessage", "Rate a message (like, dislike, or null to withdraw)", TAG_FEEDBACK, APP_KEY,
            {"200": json_response(ref("Result"))}, body=json_body(ref("FeedbackRequest")),
            params=[path("message_id")])},
        "/v1/app/feedbacks": {"get": operation(
            "listFeedbacks", "The app's message ratings, newest first", TAG_FEEDBACK, APP_KEY,
            {"200": json_response(obj({"data": array(ref("Feedback"))}))}, params=PAGING)},
        "/v1/site": {"get": operation("getSite", "The app's web-app settings (title, icon, description)", TAG_APP,
                                      APP_KEY, {"200": json_response(ref("Site"))})},
        "/v1/meta": {"get": operation("getMeta", "Icons of the tool providers the app uses", TAG_APP, APP_KEY,
                                      {"200": json_response(ref("Meta"))})},
    }


def tag_paths() -> dict[str, Schema]:
    done = {"204": no_content()}
    dataset_tags = {"200": json_response(obj({"data": array(obj({"id": STR, "name": STR})), "total": INT}))}
    return {
        "/v1/datasets/tags": {
            "post": operation("createTag", "Create a knowledge tag", TAG_KNOWLEDGE, DS_KEY,
                              {"200": json_response(ref("Tag"))}, body=json_body(ref("TagBody"))),
            "get": operation("listTags", "The workspace's knowledge tags", TAG_KNOWLEDGE, DS_KEY,
                             {"200": json_response(array(ref("Tag")))}),
            "patch": operation("renameTag", "Rename a knowledge tag", TAG_KNOWLEDGE, DS_KEY,
                               {"200": json_response(ref("Tag"))}, body=json_body(ref("TagRename"))),
            "delete": operation("deleteTag", "Delete a knowledge tag and its bindings", TAG_KNOWLEDGE, DS_KEY,
                                done, body=json_body(ref("TagRef")))},
        "/v1/datasets/tags/binding": {"post": operation(
            "bindTags", "Bind tags to a dataset", TAG_KNOWLEDGE, DS_KEY, done,
            body=json_body(ref("TagBindingBody")))},
        "/v1/datasets/tags/unbinding": {"post": operation(
            "unbindTag", "Unbind a tag from a dataset", TAG_KNOWLEDGE, DS_KEY, done,
            body=json_body(ref("TagUnbindingBody")))},
        "/v1/datasets/{dataset_id}/tags": {
            "get": operation("getDatasetTags", "The tags bound to a dataset", TAG_KNOWLEDGE, DS_KEY, dataset_tags,
                             params=[DATASET]),
            "post": operation("getDatasetTagsByPost", "The tags bound to a dataset (POST form some SDKs send)",
                              TAG_KNOWLEDGE, DS_KEY, dataset_tags, params=[DATASET])},
    }


def metadata_paths() -> dict[str, Schema]:
    base = "/v1/datasets/{dataset_id}/metadata"
    field = {"200": json_response(ref("MetadataField"))}
    result = {"200": json_response(ref("Result"))}
    return {
        base: {
            "post": operation("createMetadataField", "Add a metadata field to a dataset", TAG_KNOWLEDGE, DS_KEY,
                              field, body=json_body(ref("MetadataBody")), params=[DATASET]),
            "get": operation("listMetadataFields", "A dataset's metadata fields and their use", TAG_KNOWLEDGE,
                             DS_KEY, {"200": json_response(ref("MetadataList"))}, params=[DATASET])},
        f"{base}/{{metadata_id}}": {
            "patch": operation("renameMetadataField", "Rename a metadata field", TAG_KNOWLEDGE, DS_KEY, field,
                               body=json_body(ref("MetadataRename")), params=[DATASET, METADATA]),
            "delete": operation("deleteMetadataField", "Delete a metadata field and its values", TAG_KNOWLEDGE,
                                DS_KEY, {"204": no_content()}, params=[DATASET, METADATA])},
        f"{base}/built-in": {"get": operation(
            "listBuiltInMetadata", "The built-in metadata fields", TAG_KNOWLEDGE, DS_KEY,
            {"200": json_response(obj({"fields": array(obj({"name": STR, "type": STR}))}))}, params=[DATASET])},
        f"{base}/built-in/{{action}}": {"post": operation(
            "toggleBuiltInMetadata", "Switch the built-in metadata fields on or off", TAG_KNOWLEDGE, DS_KEY, result,
            params=[DATASET, {"name": "action", "in": "path", "required": True,
                              "schema": {"type": "string", "enum": ["enable", "disable"]}}])},
        "/v1/datasets/{dataset_id}/documents/metadata": {"post": operation(
            "setDocumentsMetadata", "Replace documents' metadata values", TAG_KNOWLEDGE, DS_KEY, result,
            body=json_body(ref("DocumentsMetadataBody")), params=[DATASET])},
        "/v1/workspaces/current/models/model-types/text-embedding": {"get": operation(
            "listEmbeddingModels", "The embedding models datasets can use", TAG_KNOWLEDGE, DS_KEY,
            {"200": json_response(obj({"data": array(ref("EmbeddingProvider"))}))})},
    }


def label_paths() -> dict[str, Schema]:
    return {**feedback_paths(), **tag_paths(), **metadata_paths()}
