"""Building blocks of the OpenAPI document: shared schemas (Dify's error, pages, runs, messages, datasets), the
security schemes, and small constructors for operations, parameters and bodies. Pure data; no Flask."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

SSE = "text/event-stream"
JSON = "application/json"

SECURITY_SCHEMES: Schema = {
    "AppKey": {"type": "http", "scheme": "bearer", "description": "An app's Service API key (`app-...`)."},
    "DatasetKey": {"type": "http", "scheme": "bearer",
                   "description": "A workspace's knowledge-base key (`ds-...`)."},
    "AdminToken": {"type": "http", "scheme": "bearer", "description": "An admin token of a workspace."},
}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(kind: str | Schema) -> Schema:
    if isinstance(kind, str):
        return {"type": [kind, "null"]}
    return {"anyOf": [kind, {"type": "null"}]}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """An object with these required properties; other properties are allowed (the API may add fields)."""
    return {"type": "object", "required": list(required), "properties": {**required, **(optional or {})}}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


STR, INT, NUM, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}
ANY_OBJ: Schema = {"type": "object"}
TS = nullable("integer")  # Unix seconds

RUN_DATA = obj({
    "id": STR, "workflow_id": nullable("string"), "status": STR, "outputs": nullable("object"),
    "error": nullable("string"), "elapsed_time": nullable("number"), "total_tokens": nullable("integer"),
    "total_steps": nullable("integer"), "created_at": TS, "finished_at": TS,
})

SCHEMAS: dict[str, Schema] = {
    "Error": obj({"code": STR, "message": STR, "status": INT},
                 {"params": STR}) | {"description": "Dify's error body, for every 4xx and 5xx."},
    "Result": obj({"result": {"type": "string", "enum": ["success"]}}),
    "RunData": RUN_DATA,
    "RunDetail": {"allOf": [ref("RunData"), obj({"inputs": nullable("object")})]},
    "BlockingRun": obj({"task_id": STR, "workflow_run_id": STR, "data": ref("RunData")}),
    "LogPage": obj({"page": INT, "limit": INT, "total": INT, "has_more": BOOL, "data": array(obj({
        "id": STR, "workflow_run": obj({"id": STR, "status": STR, "created_at": TS}),
        "created_by_role": STR, "created_at": TS}))}),
    "Info": obj({"name": STR, "description": nullable("string"), "tags": array(STR), "mode": STR}),
    "Parameters": obj({"user_input_form": array(ANY_OBJ), "file_upload": ANY_OBJ,
                       "system_parameters": ANY_OBJ, "opening_statement": STR,
                       "suggested_questions": {"type": "array"}}),
    "CompletionReply": obj({"event": STR, "task_id": STR, "id": STR, "message_id": STR, "mode": STR,
                            "answer": STR, "metadata": ANY_OBJ, "created_at": TS}),
    "ChatReply": obj({"event": STR, "task_id": STR, "id": STR, "message_id": STR, "conversation_id": STR,
                      "mode": STR, "answer": STR, "metadata": ANY_OBJ, "created_at": TS}),
    "Conversation": obj({"id": STR, "name": nullable("string"), "inputs": nullable("object"),
                         "status": nullable("string"), "created_at": TS, "updated_at": TS}),
    "Message": obj({"id": STR, "conversation_id": STR, "inputs": nullable("object"), "query": nullable("string"),
                    "answer": nullable("string"), "status": nullable("string"), "created_at": TS}),
    "ConversationVariable": obj({"id": STR, "name": STR, "value_type": nullable("string"), "created_at": TS},
                                {"value": {}}),
    "File": obj({"id": STR, "name": STR, "size": INT, "extension": STR, "mime_type": STR,
                 "created_by": nullable("string"), "created_at": TS}),
    "Dataset": obj({"id": STR, "name": STR, "description": nullable("string"), "permission": nullable("string"),
                    "indexing_technique": nullable("string"), "document_count": INT, "word_count": INT,
                    "created_at": TS, "updated_at": TS, "retrieval_model_dict": ANY_OBJ}),
    "Document": obj({"id": STR, "name": STR, "position": nullable("integer"), "indexing_status": STR,
                     "display_status": STR, "enabled": BOOL, "archived": BOOL, "word_count": nullable("integer"),
                     "tokens": nullable("integer"), "created_at": TS, "error": nullable("string")}),
    "DocumentCreated": obj({"document": ref("Document"), "batch": STR}),
    "IndexingStatus": obj({"id": STR, "indexing_status": STR, "completed_segments": INT, "total_segments": INT,
                           "processing_started_at": TS, "completed_at": TS, "error": nullable("string")}),
    "Segment": obj({"id": STR, "position": nullable("integer"), "document_id": STR, "content": STR,
                    "answer": nullable("string"), "word_count": nullable("integer"), "tokens": nullable("integer"),
                    "keywords": array(STR), "enabled": BOOL, "status": STR, "created_at": TS}),
    "RetrieveResult": obj({"query": obj({"content": STR}), "records": array(obj({
        "segment": ref("Segment"), "score": NUM}))}),
    "App": obj({"id": STR, "name": STR, "mode": STR, "description": nullable("string"),
                "published_version_id": nullable("string"), "created_at": TS, "updated_at": TS}),
    "AppCreated": obj({"id": STR, "name": STR, "mode": STR}, {
        "warnings": array(STR),
        "missing_tools": array(obj({"node_id": STR, "provider_type": STR, "provider_id": STR, "tool_name": STR,
                                    "reason": {"type": "string", "enum": ["not_installed", "credentials_missing"]}},
                                   {"provider_name": STR}))}),
    "Version": obj({"id": STR, "number": INT, "status": STR, "dsl_version": nullable("string"), "created_at": TS}),
    "KeyCreated": obj({"id": STR, "token": STR, "type": {"type": "string", "enum": ["app", "dataset"]}}),
    "KeyInfo": obj({"id": STR, "token": STR, "type": STR, "created_at": TS, "last_used_at": TS}),
}


def page_of(item: Schema, paged: bool = True) -> Schema:
    """Dify's list envelope: `page`/`total` for offset paging, `has_more`/`limit` always."""
    fields: dict[str, Schema] = {"data": array(item), "has_more": BOOL, "limit": INT}
    if paged:
        fields |= {"page": INT, "total": INT}
    return obj(fields)


def error_response(description: str) -> Schema:
    return {"description": description, "content": {JSON: {"schema": ref("Error")}}}


ERRORS: dict[str, Schema] = {
    "400": error_response("Invalid parameter or request (`invalid_param`, `bad_request`, ...)."),
    "401": error_response("Missing, unknown or revoked credential (`unauthorized`)."),
    "404": error_response("No such resource for this credential (`not_found`): also for other tenants' ids."),
    "413": error_response("Request body, DSL or file too large."),
    "429": error_response("Rate limited (`too_many_requests`, `quota_exceeded`); see Retry-After."),
    "default": error_response("Any other error, in the same shape (5xx: `internal_server_error`, "
                              "`service_unavailable`)."),
}


def json_response(schema: Schema, description: str = "OK") -> Schema:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def no_content() -> Schema:
    return {"description": "Done; no body."}


def json_body(schema: Schema, required: bool = True) -> Schema:
    return {"required": required, "content": {JSON: {"schema": schema}}}


def path(name: str, description: str = "") -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": STR, "description": description or name}


def query(name: str, schema: Schema | None = None, required: bool = False, description: str = "") -> Schema:
    return {"name": name, "in": "query", "required": required, "schema": schema or STR,
            "description": description or name}


PAGING = [query("page", {"type": "integer", "minimum": 1, "default": 1}),
          query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20})]
LIMIT = [query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20})]
USER = query("user", required=True, description="The end user's identifier (Dify's `user`).")


def operation(op_id: str, summary: str, tag: str, security: str | None, responses: dict[str, Schema],
              body: Schema | None = None, params: list[Schema] | None = None) -> Schema:
    """One operation, with Dify's error responses added (and 401 only when a credential is needed)."""
    errors = {k: v for k, v in ERRORS.items() if security or k != "401"}
    found: Schema = {"operationId": op_id, "summary": summary, "tags": [tag],
                     "responses": {**responses, **{k: v for k, v in errors.items() if k not in responses}}}
    found["security"] = [{security: []}] if security else []
    if body is not None:
        found["requestBody"] = body
    if params:
        found["parameters"] = params
    return found
