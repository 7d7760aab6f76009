"""OpenAPI paths of Dify's Knowledge API under `/v1/datasets` (`ds-` keys): datasets, documents, segments,
indexing status and retrieval. Dify's underscore aliases (`create_by_text`, ...) and `hit-testing` exist but
are left out of the document, as Dify's own reference does."""

from __future__ import annotations

from app.api.openapi.components import (
    INT,
    PAGING,
    STR,
    Schema,
    array,
    json_body,
    json_response,
    no_content,
    obj,
    operation,
    page_of,
    path,
    query,
    ref,
)

TAG = "Knowledge"
KEY = "DatasetKey"
DATASET, DOCUMENT, SEGMENT = path("dataset_id"), path("document_id"), path("segment_id")


def file_form() -> Schema:
    return {"required": True, "content": {"multipart/form-data": {"schema": obj(
        {"file": {"type": "string", "format": "binary"}},
        {"data": {"type": "string", "description": "JSON of the text-document fields (name, process_rule, ...)"}})}}}


def knowledge_paths() -> dict[str, Schema]:
    base, doc = "/v1/datasets/{dataset_id}", "/v1/datasets/{dataset_id}/documents/{document_id}"
    created = {"200": json_response(ref("DocumentCreated"))}
    segments_out = obj({"data": array(ref("Segment")), "doc_form": STR})
    segment_out = obj({"data": ref("Segment"), "doc_form": STR})
    update_segment = {"responses": {"200": json_response(segment_out)}, "body": json_body(ref("SegmentBody")),
                      "params": [DATASET, DOCUMENT, SEGMENT]}
    return {
        "/v1/datasets": {
            "post": operation("createDataset", "Create an empty dataset", TAG, KEY,
                              {"200": json_response(ref("Dataset"))}, body=json_body(ref("DatasetBody"))),
            "get": operation("listDatasets", "The workspace's datasets", TAG, KEY,
                             {"200": json_response(page_of(ref("Dataset")))},
                             params=[*PAGING, query("keyword"),
                                     query("tag_ids", array(STR), description="only datasets bound to these tags")])},
        base: {
            "get": operation("getDataset", "A dataset", TAG, KEY, {"200": json_response(ref("Dataset"))},
                             params=[DATASET]),
            "patch": operation("updateDataset", "Update a dataset", TAG, KEY, {"200": json_response(ref("Dataset"))},
                               body=json_body(ref("DatasetPatch")), params=[DATASET]),
            "delete": operation("deleteDataset", "Delete a dataset and its documents", TAG, KEY,
                                {"204": no_content()}, params=[DATASET])},
        f"{base}/document/create-by-text": {"post": operation(
            "createDocumentByText", "Add a document from text; indexing runs in the background", TAG, KEY, created,
            body=json_body(ref("TextDocument")), params=[DATASET])},
        f"{base}/document/create-by-file": {"post": operation(
            "createDocumentByFile", "Add a document from a file", TAG, KEY, created, body=file_form(),
            params=[DATASET])},
        f"{doc}/update-by-text": {"post": operation(
            "updateDocumentByText", "Replace a document's text or rules; re-indexes", TAG, KEY, created,
            body=json_body(ref("TextDocument")), params=[DATASET, DOCUMENT])},
        f"{doc}/update-by-file": {"post": operation(
            "updateDocumentByFile", "Replace a document's file; re-indexes", TAG, KEY, created, body=file_form(),
            params=[DATASET, DOCUMENT])},
        f"{base}/documents": {"get": operation(
            "listDocuments", "A dataset's documents", TAG, KEY, {"200": json_response(page_of(ref("Document")))},
            params=[DATASET, *PAGING, query("keyword")])},
        doc: {
            "get": operation("getDocument", "A document", TAG, KEY, {"200": json_response(ref("Document"))},
                             params=[DATASET, DOCUMENT]),
            "delete": operation("deleteDocument", "Delete a document", TAG, KEY, {"204": no_content()},
                                params=[DATASET, DOCUMENT])},
        f"{doc}/upload-file": {"get": operation(
            "getDocumentUploadFile", "The uploaded file behind a document", TAG, KEY,
            {"200": json_response(ref("File"))}, params=[DATASET, DOCUMENT])},
        f"{base}/documents/status/{{action}}": {"patch": operation(
            "setDocumentStatus", "Enable, disable, archive or un-archive documents", TAG, KEY,
            {"200": json_response(ref("Result"))}, body=json_body(ref("StatusBody")),
            params=[DATASET, {"name": "action", "in": "path", "required": True, "schema": {
                "type": "string", "enum": ["enable", "disable", "archive", "un_archive"]}}])},
        f"{base}/documents/{{batch}}/indexing-status": {"get": operation(
            "getIndexingStatus", "Indexing progress of a batch", TAG, KEY,
            {"200": json_response(obj({"data": array(ref("IndexingStatus"))}))}, params=[DATASET, path("batch")])},
        f"{doc}/segments": {
            "get": operation("listSegments", "A document's segments", TAG, KEY, {"200": json_response(
                obj({"data": array(ref("Segment")), "doc_form": STR, "has_more": {"type": "boolean"},
                     "limit": INT, "total": INT, "page": INT}))},
                params=[DATASET, DOCUMENT, *PAGING, query("keyword"), query("status")]),
            "post": operation("addSegments", "Add segments to a document", TAG, KEY,
                              {"200": json_response(segments_out)}, body=json_body(ref("SegmentsBody")),
                              params=[DATASET, DOCUMENT])},
        f"{doc}/segments/{{segment_id}}": {
            "get": operation("getSegment", "A segment", TAG, KEY, update_segment["responses"],
                             params=update_segment["params"]),
            "post": operation("updateSegment", "Update a segment", TAG, KEY, update_segment["responses"],
                              body=update_segment["body"], params=update_segment["params"]),
            "patch": operation("patchSegment", "Update a segment (PATCH form)", TAG, KEY,
                               update_segment["responses"], body=update_segment["body"],
                               params=update_segment["params"]),
            "delete": operation("deleteSegment", "Delete a segment", TAG, KEY, {"204": no_content()},
                                params=[DATASET, DOCUMENT, SEGMENT])},
        f"{base}/retrieve": {"post": operation(
            "retrieve", "Search a dataset", TAG, KEY, {"200": json_response(ref("RetrieveResult"))},
            body=json_body(ref("RetrieveBody")), params=[DATASET])},
    }
