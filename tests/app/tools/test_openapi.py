"""OpenAPI tools: every operation of a schema becomes a tool (OpenAPI 3 and Swagger 2), called through the egress
guard against a server the test starts, with none, API-key (header or query), bearer or basic auth."""

from __future__ import annotations

import base64
import json

import pytest

from app.errors import InvalidParam, ToolCredentialsMissing, ToolInvokeError, ToolNotFound
from app.tools.openapi import from_config
from tests.app.tools.builtin.calls import MemoryFiles

SCHEMA = """
openapi: 3.0.1
info: {title: Images, version: "1"}
servers: [{url: "https://images.example.com/v1"}]
paths:
  /items/{item_id}:
    get:
      operationId: getItem
      summary: One item
      parameters:
        - {name: item_id, in: path, required: true, schema: {type: string}}
        - {name: verbose, in: query, schema: {type: boolean}}
        - {name: X-Trace, in: header, schema: {type: string}}
  /generate-image:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Prompt"}
components:
  schemas:
    Prompt:
      type: object
      required: [prompt]
      properties:
        prompt: {type: string, description: what to draw}
        size: {type: integer}
"""


def provider(web, auth=None, schema=SCHEMA, files=None):
    return from_config("p1", {"schema": schema, "server_url": web.url + "/v1", "auth": auth or {"type": "none"}},
                       web.context(files=files))


def test_operations_become_tools_with_json_schemas(web):
    tools = {t.ref.tool_name: t for t in provider(web).tools()}
    assert set(tools) == {"getItem", "generate-image_post"}
    assert tools["getItem"].description == "One item"
    assert tools["getItem"].parameters["required"] == ["item_id"]
    post = tools["generate-image_post"].parameters
    assert post["properties"]["prompt"] == {"type": "string", "description": "what to draw"}
    assert post["required"] == ["prompt"] and tools["generate-image_post"].ref.provider_type == "api"


def test_path_query_header_and_json_body_are_sent(web):
    web.json_route("/v1/items/a b", {"id": "a b"})
    web.json_route("/v1/generate-image", {"url": "https://img/1.png"})
    api = provider(web)
    got = api.invoke("getItem", {"item_id": "a b", "verbose": True, "X-Trace": "t1"}, {})
    assert got.json == ({"id": "a b"},) and json.loads(got.text) == {"id": "a b"}
    sent = web.requests[0]
    assert sent.method == "GET" and sent.query == {"verbose": ["true"]} and sent.headers["x-trace"] == "t1"
    made = api.invoke("generate-image_post", {"prompt": "a cat", "size": 512, "unrelated": "x"}, {})
    assert made.json[0]["url"] == "https://img/1.png"
    assert web.requests[1].json() == {"prompt": "a cat", "size": 512}


@pytest.mark.parametrize("auth,where", [
    ({"type": "api_key", "in": "header", "name": "X-Api-Key"}, ("header", "x-api-key", "k-123")),
    ({"type": "api_key", "in": "query", "name": "key"}, ("query", "key", ["k-123"])),
    ({"type": "bearer"}, ("header", "authorization", "Bearer k-123")),
    ({"type": "basic"}, ("header", "authorization", "Basic " + base64.b64encode(b"k-123").decode())),
])
def test_auth_kinds(web, auth, where):
    web.json_route("/v1/items/1", {})
    api = provider(web, auth)
    with pytest.raises(ToolCredentialsMissing, match="api_key"):
        api.invoke("getItem", {"item_id": "1"}, {})
    api.invoke("getItem", {"item_id": "1"}, {"api_key": "k-123"})
    kind, key, value = where
    assert (web.requests[-1].headers if kind == "header" else web.requests[-1].query)[key] == value


def test_errors_unknown_operations_and_missing_parameters(web):
    web.json_route("/v1/items/1", {"error": "nope"}, status=500)
    api = provider(web)
    with pytest.raises(ToolInvokeError, match="GET /items/{item_id} answered 500"):
        api.invoke("getItem", {"item_id": "1"}, {})
    with pytest.raises(ToolInvokeError, match="'item_id' is required"):
        api.invoke("getItem", {}, {})
    with pytest.raises(ToolNotFound):
        api.invoke("deleteEverything", {}, {})


def test_a_file_answer_is_stored_through_the_files_port(web):
    web.routes["/v1/generate-image"] = (200, "image/png", b"\x89PNG...")
    files = MemoryFiles()
    result = provider(web, files=files).invoke("generate-image_post", {"prompt": "x"}, {})
    assert result.files[0]["filename"] == "generate-image_post.png"
    assert files.saved[result.files[0]["related_id"]] == (b"\x89PNG...", "image/png")


def test_swagger_2_with_a_body_parameter(web):
    swagger = {"swagger": "2.0", "host": "old.example.com", "basePath": "/api", "schemes": ["https"],
               "paths": {"/echo": {"post": {"operationId": "echo", "parameters": [
                   {"name": "payload", "in": "body", "schema": {"type": "object", "required": ["text"],
                                                                 "properties": {"text": {"type": "string"}}}},
                   {"name": "lang", "in": "query", "type": "string"}]}}}}
    web.json_route("/v1/echo", {"ok": True})
    api = provider(web, schema=swagger)
    assert api.tools()[0].parameters["required"] == ["text"]
    api.invoke("echo", {"text": "hi", "lang": "en"}, {})
    assert web.requests[0].json() == {"text": "hi"} and web.requests[0].query == {"lang": ["en"]}


@pytest.mark.parametrize("schema,message", [
    ("not: [valid", "not valid YAML"),
    ({"openapi": "3.0.0", "paths": {}}, "no paths"),
    ({"info": {}}, "OpenAPI 3"),
    ({"openapi": "3.0.0", "paths": {"/a": {"get": {"parameters": [{"$ref": "http://169.254.169.254/x"}]}}}},
     "only references inside the schema"),
])
def test_bad_schemas_are_refused_and_remote_refs_never_fetched(web, schema, message):
    with pytest.raises(InvalidParam, match=message):
        provider(web, schema=schema)
    assert not web.requests


def test_no_server_url_is_refused():
    with pytest.raises(InvalidParam, match="server URL"):
        from_config("p", {"schema": {"openapi": "3.0.0", "paths": {"/a": {"get": {}}}}}, context=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("dify,ours", [
    ({"auth_type": "none"}, {"type": "none"}),
    ({"auth_type": "api_key", "api_key_header": "Authorization", "api_key_header_prefix": "bearer"},
     {"type": "bearer"}),
    ({"auth_type": "api_key", "api_key_header": "X-Token", "api_key_header_prefix": "custom"},
     {"type": "api_key", "in": "header", "name": "X-Token"}),
    ({"auth_type": "api_key_query", "api_key_query_param": "k"}, {"type": "api_key", "in": "query", "name": "k"}),
])
def test_difys_auth_shape_is_understood(dify, ours):
    from app.tools.openapi import dify_auth

    assert dify_auth(dify) == ours
